package controller

import (
	"context"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	fcache "k8s.io/client-go/tools/cache/testing"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/compact"
)

// oneInformer is a cache whose every informer is inf.
type oneInformer struct {
	cache.Cache
	inf toolscache.SharedIndexInformer
}

func (c oneInformer) GetInformer(context.Context, client.Object, ...cache.InformerGetOption) (cache.Informer, error) {
	return c.inf, nil
}

// An account's resources are counted, and woken, from the account index's
// keys across namespaces, and a namespace's from the namespace index, with
// the informer's objects kept in compact form as the manager keeps them.
// A cache of several namespaces has an informer per namespace: the keys
// are read from every informer recorded for the kind.
func TestResourcesAreFoundByTheirIndexKeys(t *testing.T) {
	source := fcache.NewFakeControllerSource()
	defer source.Shutdown()
	inf, err := compact.NewSharedIndexInformer(source, &v1alpha1.SIM{}, 0,
		toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
	if err != nil {
		t.Fatal(err)
	}
	informers := &IndexedInformers{}
	for _, obj := range []client.Object{&v1alpha1.SIM{}, &v1alpha1.Connector{}, &v1alpha1.SMSMessage{}} {
		informers.Record(obj, inf) // the SIMs' informer stands in for every kind
	}
	c := informers.Cache(oneInformer{inf: inf})
	r := &AccountReconciler{}
	if err := indexAcrossNamespaces(c, &v1alpha1.SIM{}, accountIndex, func(o client.Object) []string {
		return []string{v1alpha1.AccountKey(o.GetNamespace(), o.(*v1alpha1.SIM).Spec.AccountRef)}
	}); err != nil {
		t.Fatal(err)
	}
	r.cache = c
	shared := &v1alpha1.AccountReference{Kind: "ClusterAccount", Name: "shared"}
	for _, s := range []struct {
		namespace, name string
		ref             *v1alpha1.AccountReference
	}{{"team-a", "one", shared}, {"team-b", "two", shared}, {"team-b", "three", nil}} {
		source.Add(&v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: s.name},
			Spec: v1alpha1.SIMSpec{ManagedPolicies: v1alpha1.ManagedPolicies{AccountRef: s.ref}}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go inf.RunWithContext(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("never synced")
	}

	names := func(field, value string) []string {
		var out []string
		for _, req := range requestsFor(c, &v1alpha1.SIM{}, field, value) {
			out = append(out, req.String())
		}
		slices.Sort(out)
		return out
	}
	for _, want := range []struct {
		field, value string
		keys         []string
	}{
		{accountIndex, v1alpha1.AccountKey("", shared), []string{"team-a/one", "team-b/two"}},
		{accountIndex, v1alpha1.AccountKey("team-b", nil), []string{"team-b/three"}}, // the default account
		{accountIndex, v1alpha1.AccountKey("team-a", &v1alpha1.AccountReference{Kind: "Account", Name: "none"}), nil},
		{"", "team-b", []string{"team-b/three", "team-b/two"}},
	} {
		if got := names(want.field, want.value); !slices.Equal(got, want.keys) {
			t.Errorf("%s=%q finds %v, want %v", want.field, want.value, got, want.keys)
		}
	}
	if n, err := r.count(v1alpha1.AccountKey("", shared)); err != nil || n != 3*2 {
		t.Errorf("count = %d, %v; want 3 kinds × 2", n, err)
	}
}
