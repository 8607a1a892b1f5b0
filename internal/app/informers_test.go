package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
)

// controller-runtime's cache builds the operator's kinds' informers on the
// manager's own client, asking for what it would have asked for (the
// cache's namespace, the shard's selector where the cache sets one), and
// holds the objects the apiserver sent.
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
	httpClient.Transport = probing{next: httpClient.Transport}
	newInformer, err := ownInformers(cfg, httpClient, nil, &controller.IndexedInformers{})
	if err != nil {
		t.Fatal(err)
	}
	shard, _ := labels.Parse("sharding.sim-operator.dev/key in (shard1)")
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(v1alpha1.GroupVersion.WithKind("SIM"), meta.RESTScopeNamespace)
	mapper.Add(v1alpha1.GroupVersion.WithKind("Account"), meta.RESTScopeNamespace)
	mapper.Add(v1alpha1.GroupVersion.WithKind("SIMList"), meta.RESTScopeNamespace)
	mapper.Add(v1alpha1.GroupVersion.WithKind("AccountList"), meta.RESTScopeNamespace)
	var probed []request // what each informer of the operator's kinds asks for, as its ListWatch says
	record := func(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, idx toolscache.Indexers) toolscache.SharedIndexInformer {
		if r, ok := probe(lw); ok {
			probed = append(probed, r)
		}
		return newInformer(lw, obj, resync, idx)
	}
	c, err := cache.New(cfg, cache.Options{HTTPClient: httpClient, Scheme: Scheme, Mapper: mapper, NewInformer: record,
		DefaultNamespaces: map[string]cache.Config{"fleet": {}}, ByObject: map[client.Object]cache.ByObject{&v1alpha1.SIM{}: {Label: shard}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, obj := range []client.Object{&v1alpha1.SIM{}, &v1alpha1.Account{}} {
		if _, err := c.GetInformer(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	want := []request{{resource: "sims", namespace: "fleet", labels: shard.String()}, {resource: "accounts", namespace: "fleet"}}
	if !slices.Equal(probed, want) {
		t.Fatalf("the informers ask for %+v, want %+v", probed, want)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("the cache did not sync")
	}
	for _, list := range []client.ObjectList{&v1alpha1.SIMList{}, &v1alpha1.AccountList{}} {
		var names []string
		for ctx.Err() == nil && len(names) < 2 {
			names = names[:0]
			if err := c.List(ctx, list); err != nil {
				t.Fatal(err)
			}
			items, _ := meta.ExtractList(list)
			for _, o := range items {
				names = append(names, o.(client.Object).GetName())
			}
		}
		if slices.Sort(names); !slices.Equal(names, []string{"a", "b"}) {
			t.Fatalf("%T holds %v, want a from the initial events and b after them", list, names)
		}
	}
	// Without the streaming list (an older apiserver), the list.
	client, err := ownClient(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	list, err := ownListWatch(client, runtime.NewParameterCodec(Scheme), "SIM", request{resource: "sims", namespace: "fleet", labels: shard.String()}, nil).
		ListWithContext(ctx, metav1.ListOptions{})
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
		case !strings.HasPrefix(a, "/apis/onomondo.sim-operator.dev/v1alpha1/namespaces/fleet/"):
			t.Errorf("asked %q, want the namespace the cache watches", a)
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

// The objects of a streaming list's initial events are handed on as they
// arrive, before the reflector sees them; the events after the bookmark
// that ends them are not, and every event passes on unchanged, in order.
func TestTheInitialEventsAreHandedOnAsTheyArrive(t *testing.T) {
	src := watch.NewFake()
	var arrived []string
	w := initialEvents(context.Background(), src, func(_ context.Context, o runtime.Object) {
		arrived = append(arrived, o.(client.Object).GetName())
	})
	defer w.Stop()
	sim := func(name string, annotations map[string]string) *v1alpha1.SIM {
		return &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}}
	}
	sent := []watch.Event{
		{Type: watch.Added, Object: sim("a", nil)},
		{Type: watch.Bookmark, Object: sim("", nil)}, // a bookmark that ends nothing
		{Type: watch.Added, Object: sim("b", nil)},
		{Type: watch.Bookmark, Object: sim("", map[string]string{metav1.InitialEventsAnnotationKey: "true"})},
		{Type: watch.Added, Object: sim("c", nil)},
		{Type: watch.Modified, Object: sim("a", nil)},
	}
	go func() {
		for _, e := range sent {
			src.Action(e.Type, e.Object)
		}
	}()
	for i, want := range sent {
		if got := <-w.ResultChan(); got.Type != want.Type || got.Object != want.Object {
			t.Fatalf("event %d is %s %v, want %s %v", i, got.Type, got.Object, want.Type, want.Object)
		}
	}
	if !slices.Equal(arrived, []string{"a", "b"}) {
		t.Fatalf("handed on %q, want the initial events' a and b", arrived)
	}
}
