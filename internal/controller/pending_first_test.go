package controller

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// After a restart the whole fleet arrives in the initial list at low
// priority; a SIM whose spec changed meanwhile, or that is being deleted,
// is reconciled before the in-sync ones.
func TestPendingObjectsInTheInitialListGoFirst(t *testing.T) {
	q := priorityqueue.New[reconcile.Request]("pending-first-test")
	defer q.ShutDown()
	sim := func(name string, generation, observed int64) *v1alpha1.SIM {
		s := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: name, Generation: generation}}
		s.Status.ObservedGeneration = observed
		return s
	}
	inSync := func(i int) *v1alpha1.SIM { return sim(fmt.Sprint("in-sync-", i), 1, 1) }
	changed, deleting := sim("changed", 2, 1), sim("deleting", 1, 1)
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	forHandler := handler.WithLowPriorityWhenUnchanged(&handler.EnqueueRequestForObject{})
	objects := []*v1alpha1.SIM{inSync(0), inSync(1), changed, inSync(2), deleting, inSync(3)}
	for _, o := range objects {
		e := event.CreateEvent{Object: o, IsInInitialList: true}
		forHandler.Create(context.Background(), e, q)
		pendingFirst[*v1alpha1.SIM]().Create(context.Background(), e, q)
	}
	var order []string
	for range objects {
		req, _ := q.Get()
		order = append(order, req.Name)
		q.Done(req)
	}
	if order[0] != "changed" || order[1] != "deleting" {
		t.Fatalf("reconcile order %q, want the changed and the deleting SIM first", order)
	}
}

// A starting process queues every resource of its initial list: waking the
// resources that share an identifier with each (a lookup per resource)
// would add nothing then. A resource created later does wake them.
func TestTheInitialListWakesNoClaimants(t *testing.T) {
	r := newSIMReconciler(fakeClient(interceptor.Funcs{}), &fakeSIMAPI{}, &fakeRecorder{}, ManagedOptions{})
	s := simObj("s", byIMSI(imsiA, true))
	if r.claimsChanged().Create(event.CreateEvent{Object: s, IsInInitialList: true}) {
		t.Error("a SIM of the initial list woke its claimants")
	}
	if !r.claimsChanged().Create(event.CreateEvent{Object: s}) {
		t.Error("a new SIM did not wake its claimants")
	}
}
