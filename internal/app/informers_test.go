package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// The operator's own kinds are listed and watched by the manager's own
// client, across namespaces and with the shard's selector for the kinds a
// shard splits; their objects reach the informer's store as the apiserver
// sent them. Other kinds keep the ListWatch they were given.
func TestOwnKindsAreWatchedWithTheShardsSelectorAndDecoded(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path+" "+r.URL.Query().Get("labelSelector"))
		mu.Unlock()
		kind := "SIM"
		if strings.HasSuffix(r.URL.Path, "/accounts") {
			kind = "Account"
		}
		if r.URL.Query().Get("watch") != "true" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"apiVersion":"onomondo.sim-operator.dev/v1alpha1","kind":"%sList","metadata":{"resourceVersion":"5"},"items":[`+
				`{"apiVersion":"onomondo.sim-operator.dev/v1alpha1","kind":"%[1]s","metadata":{"name":"a","namespace":"fleet","resourceVersion":"4"}}]}`, kind)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if r.URL.Query().Get("sendInitialEvents") == "true" { // the streaming list: a, then its end
			fmt.Fprintf(w, `{"type":"ADDED","object":{"apiVersion":"onomondo.sim-operator.dev/v1alpha1","kind":"%s","metadata":{"name":"a","namespace":"fleet","resourceVersion":"4"}}}`+"\n", kind)
			fmt.Fprintf(w, `{"type":"BOOKMARK","object":{"apiVersion":"onomondo.sim-operator.dev/v1alpha1","kind":"%s","metadata":{"resourceVersion":"5","annotations":{"k8s.io/initial-events-end":"true"}}}}`+"\n", kind)
		}
		fmt.Fprintf(w, `{"type":"ADDED","object":{"apiVersion":"onomondo.sim-operator.dev/v1alpha1","kind":"%s","metadata":{"name":"b","namespace":"fleet","resourceVersion":"6"}}}`+"\n", kind)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	shard, _ := labels.Parse("sharding.sim-operator.dev/key in (shard1)")
	newInformer, err := ownInformers(cfg, httpClient, shard, []runtime.Object{&v1alpha1.SIM{}})
	if err != nil {
		t.Fatal(err)
	}
	given := &toolscache.ListWatch{} // what controller-runtime would pass; its funcs are nil

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, obj := range []runtime.Object{&v1alpha1.SIM{}, &v1alpha1.Account{}} {
		inf := newInformer(given, obj, 0, toolscache.Indexers{})
		go inf.RunWithContext(ctx)
		deadline := time.Now().Add(10 * time.Second)
		for len(inf.GetStore().ListKeys()) < 2 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if keys := inf.GetStore().ListKeys(); len(keys) != 2 {
			t.Fatalf("%T: the store holds %v, want fleet/a from the initial events and fleet/b after them", obj, keys)
		}
		if _, ok := inf.GetStore().List()[0].(interface{ GetName() string }); !ok {
			t.Fatalf("%T: the store holds %T", obj, inf.GetStore().List()[0])
		}
	}
	// Without the streaming list (an older apiserver), the list.
	client, err := ownClient(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	list, err := ownListWatch(client, runtime.NewParameterCodec(Scheme), "SIM", shard).ListWithContext(ctx, metav1.ListOptions{})
	if sims, ok := list.(*v1alpha1.SIMList); err != nil || !ok || len(sims.Items) != 1 || sims.Items[0].Name != "a" || sims.ResourceVersion != "5" {
		t.Fatalf("the list is %#v (%v), want fleet/a at resourceVersion 5", list, err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range asked {
		switch {
		case strings.HasSuffix(strings.Fields(a)[0], "/sims") && !strings.HasSuffix(a, " sharding.sim-operator.dev/key in (shard1)"):
			t.Errorf("SIMs asked for without the shard's selector: %q", a)
		case strings.HasSuffix(strings.Fields(a)[0], "/accounts") && strings.Contains(a, "shard"):
			t.Errorf("Accounts asked for with the shard's selector: %q", a)
		case !strings.HasPrefix(a, "/apis/onomondo.sim-operator.dev/v1alpha1/"):
			t.Errorf("asked %q, want the group's path across namespaces", a)
		}
	}
	if len(asked) < 2 {
		t.Errorf("asked %q, want each kind's streaming list", asked)
	}
}

// Only typed objects of the operator's group take its own ListWatch.
func TestOnlyTheOperatorsTypedKindsAreItsOwn(t *testing.T) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("SIM"))
	for obj, want := range map[runtime.Object]string{
		&v1alpha1.SIM{}: "SIM", &v1alpha1.Claim{}: "Claim", &v1alpha1.SMSMessage{}: "SMSMessage",
		&corev1.Secret{}: "", &metav1.PartialObjectMetadata{}: "", u: "",
	} {
		if kind, own := ownKind(obj); kind != want || own != (want != "") {
			t.Errorf("%T: kind %q (own %t), want %q", obj, kind, own, want)
		}
	}
}
