package metrics

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// The state gauges follow each resource from state to state and forget it
// when it is deleted; a state nobody is in disappears.
func TestStateCountsFollowTransitions(t *testing.T) {
	var c stateCounts
	a, b := types.NamespacedName{Namespace: "ns", Name: "a"}, types.NamespacedName{Namespace: "ns", Name: "b"}
	unknown, ready, failed := state{"Unknown", "", "default"}, state{"True", "Available", "default"}, state{"False", "ImsiForbidden", "default"}
	steps := []struct {
		name string
		do   func()
		want map[state]int
	}{
		{"two new SIMs", func() { c.set(a, unknown); c.set(b, unknown) }, map[state]int{unknown: 2}},
		{"one becomes Ready", func() { c.set(a, ready) }, map[state]int{unknown: 1, ready: 1}},
		{"the same state again counts once", func() { c.set(a, ready) }, map[state]int{unknown: 1, ready: 1}},
		{"the other fails", func() { c.set(b, failed) }, map[state]int{ready: 1, failed: 1}},
		{"the failed one is deleted", func() { c.remove(b) }, map[state]int{ready: 1}},
		{"deleting it twice changes nothing", func() { c.remove(b) }, map[state]int{ready: 1}},
	}
	for _, s := range steps {
		s.do()
		if len(c.count) != len(s.want) {
			t.Fatalf("%s: counts %v, want %v", s.name, c.count, s.want)
		}
		for k, n := range s.want {
			if c.count[k] != n {
				t.Fatalf("%s: counts %v, want %v", s.name, c.count, s.want)
			}
		}
	}
}

func TestTheAccountLabelTakesOnlyAccountsThatExist(t *testing.T) {
	c := fakeClient(&v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "real"}})
	sc := &StateCollector{reader: c}
	for _, tc := range []struct {
		ref  *v1alpha1.AccountReference
		want string
	}{
		{nil, "default"},
		{&v1alpha1.AccountReference{Kind: "Account", Name: "real"}, "Account/ns/real"},
		{&v1alpha1.AccountReference{Kind: "Account", Name: "typed-by-anyone-1234"}, unknownAccount},
		{&v1alpha1.AccountReference{Kind: "ClusterAccount", Name: "nope"}, unknownAccount},
	} {
		if got := sc.accountLabel("ns", tc.ref); got != tc.want {
			t.Errorf("accountLabel(%+v) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}

// fakeClient is an apiserver in memory holding objs.
func fakeClient(objs ...client.Object) client.Client {
	scheme := runtime.NewScheme()
	_ = v1alpha1.AddToScheme(scheme)
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}
