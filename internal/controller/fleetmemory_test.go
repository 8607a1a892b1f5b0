package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// The identifier index holds buckets; a lookup keeps only the resources
// that claim the identifier itself, so a resource sharing a bucket with it
// is neither a twin nor woken.
func TestAResourceSharingOnlyAnIndexBucketIsNoClaimant(t *testing.T) {
	ctx := context.Background()
	a := indexedSIM("fleet", "a", "238730000000001")
	var b *v1alpha1.SIM // a different IMSI in a's bucket
	for i := 2; b == nil; i++ {
		imsi := fmt.Sprintf("2387300000%05d", i)
		if c := indexedSIM("fleet", "b", imsi); bucketName(simClaimKeys(c)[0]) == bucketName(simClaimKeys(a)[0]) {
			b = c
		}
	}
	twin := indexedSIM("fleet", "twin", a.Spec.IMSI)
	r := newSIMReconciler(fakeClient(interceptor.Funcs{}, a, b, twin), nil, nil, ManagedOptions{})

	others, err := r.otherClaimants(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(others) != 1 || others[0].Name != "twin" {
		t.Fatalf("a's claimants are %v, want only its twin (not b, which shares its bucket)", names(others))
	}
	if others, _ := r.otherClaimants(ctx, b); len(others) != 0 {
		t.Fatalf("b's claimants are %v, want none", names(others))
	}
}

// Every identifier lands in one of keyBuckets buckets, and a resource's
// identifiers that share a bucket are indexed under it once.
func TestBucketsOfNamesEachBucketOnce(t *testing.T) {
	seen := map[string]bool{}
	for i := range 400000 {
		seen[bucketName(fmt.Sprintf("acct|imsi:%d", i))] = true
	}
	if len(seen) != keyBuckets {
		t.Errorf("400,000 identifiers fill %d buckets, want all %d", len(seen), keyBuckets)
	}
	if got := bucketsOf([]string{"k", "k"}); len(got) != 1 {
		t.Errorf("two keys in one bucket give %v, want one value", got)
	}
}

// Due drift checks join the workqueue at low priority: a change queued at
// the same time is handed to a worker first.
func TestTheDriftPumpQueuesDueChecksBehindChanges(t *testing.T) {
	q := priorityqueue.New[reconcile.Request]("drift-pump-test")
	defer q.ShutDown()
	queueDrifts(q, []types.NamespacedName{{Namespace: "fleet", Name: "a"}, {Namespace: "fleet", Name: "b"}})
	q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "fleet", Name: "changed"}})
	var order []string
	for range 3 {
		item, prio, _ := q.GetWithPriority()
		order = append(order, fmt.Sprintf("%s@%d", item.Name, prio))
		q.Done(item)
	}
	want := []string{"changed@0", fmt.Sprintf("a@%d", handler.LowPriority), fmt.Sprintf("b@%d", handler.LowPriority)}
	if !slices.Equal(order, want) {
		t.Fatalf("workers get %v, want %v", order, want)
	}
}

func names(sims []*v1alpha1.SIM) []string {
	var out []string
	for _, s := range sims {
		out = append(out, s.Namespace+"/"+s.Name)
	}
	return out
}

func indexedSIM(ns, name, imsi string) *v1alpha1.SIM {
	return &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name)}, Spec: v1alpha1.SIMSpec{IMSI: imsi}}
}
