package controller

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/metrics"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// earlyFixture is a SIM reconciler with an early lane, on a fake
// apiserver whose SIMs the early pass must not read (the cache does not
// hold the whole fleet yet): such a read fails the test.
type earlyFixture struct {
	t       *testing.T
	api     *fakeSIMAPI
	c       client.Client
	r       *managedReconciler[*v1alpha1.SIM]
	arrived func(context.Context, runtime.Object)
	// cacheCopy, when set, is what a worker reads of the SIM: the copy of
	// the initial list the cache still holds.
	cacheCopy atomic.Pointer[v1alpha1.SIM]
	// inPass: the lane has an object; the caches have not synced.
	inPass atomic.Bool
}

func newEarlyFixture(t *testing.T, api []onomondo.SIM, objs ...client.Object) *earlyFixture {
	f := &earlyFixture{t: t, api: &fakeSIMAPI{sims: api, fail: map[string][]error{}}}
	readsSIMs := func(o any) bool {
		switch o.(type) {
		case *v1alpha1.SIM, *v1alpha1.SIMList:
			return true
		}
		return false
	}
	f.c = fakeClient(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
			if readsSIMs(o) && f.inPass.Load() {
				t.Errorf("the early pass read SIM %s from the cache, which does not hold the fleet yet", key)
			}
			if cp := f.cacheCopy.Load(); cp != nil && readsSIMs(o) {
				cp.DeepCopyInto(o.(*v1alpha1.SIM))
				return nil
			}
			return c.Get(ctx, key, o, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if readsSIMs(list) && f.inPass.Load() {
				t.Error("the early pass listed SIMs from the cache, which does not hold the fleet yet")
			}
			return c.List(ctx, list, opts...)
		},
	}, objs...)
	f.r = newSIMReconciler(f.c, f.api, &fakeRecorder{}, ManagedOptions{SyncPeriod: time.Hour, MinBackoff: time.Millisecond, MaxBackoff: time.Second})
	f.r.claims = &claimStore{client: f.c, reader: f.c}
	a := &Arrivals{}
	(&ManagedController[*v1alpha1.SIM]{r: f.r, opts: ManagedOptions{MaxConcurrentReconciles: 2}}).ApplyEarly(a)
	f.arrived = a.Arrived("SIM")
	return f
}

// arrive hands obj to the lane as the informer would, and waits until its
// pass (if any) has ended.
func (f *earlyFixture) arrive(obj *v1alpha1.SIM) {
	f.inPass.Store(true)
	defer f.inPass.Store(false)
	f.arrived(context.Background(), obj.DeepCopy())
	f.r.early.queued.Wait()
}

// work is a worker's reconcile of obj once the caches synced.
func (f *earlyFixture) work(obj *v1alpha1.SIM) ctrl.Result {
	f.t.Helper()
	res, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

func (f *earlyFixture) stored(obj *v1alpha1.SIM) *v1alpha1.SIM {
	var got v1alpha1.SIM
	if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), &got); err != nil {
		f.t.Fatal(err)
	}
	return &got
}

// The initial list goes only to the lanes of kinds that asked for it; a
// manager without lanes (leader election) has none.
func TestArrivalsGoOnlyToTheLanesOfTheirKind(t *testing.T) {
	a := &Arrivals{}
	(&ManagedController[*v1alpha1.SIM]{r: newSIMReconciler(fakeClient(interceptor.Funcs{}), nil, nil, ManagedOptions{})}).ApplyEarly(a)
	if a.Arrived("SIM") == nil {
		t.Fatal("no lane for the SIMs")
	}
	if a.Arrived("Connector") != nil || (&Arrivals{}).Arrived("SIM") != nil || (*Arrivals)(nil).Arrived("SIM") != nil {
		t.Fatal("a lane for a kind no controller registered")
	}
}

// A spec changed while no manager ran, on a SIM that holds its Claim, is
// applied as the SIM arrives in the initial list, from the Claim alone;
// the workers, once the caches synced, wait for the cache to show the
// write instead of applying it again.
func TestAPendingChangeOfAClaimHolderIsAppliedAsItArrivesAndOnce(t *testing.T) {
	obj := simObj("s", byIMSI(imsiA, false), bound(imsiA, msisdnA, true), synced, newGeneration, holding)
	f := newEarlyFixture(t, []onomondo.SIM{live(imsiA, msisdnA, true)}, obj, heldBy("s"))
	arrivedAt := f.stored(obj)
	converged := testutil.ToFloat64(metrics.EarlyChanges.WithLabelValues("SIM", "converged"))
	f.arrive(arrivedAt)
	if got := testutil.ToFloat64(metrics.EarlyChanges.WithLabelValues("SIM", "converged")) - converged; got != 1 {
		t.Errorf("sim_operator_early_changes_total{outcome=converged} rose by %g, want 1", got)
	}

	if want := []string{"GET " + imsiA, "PUT " + imsiA}; !slices.Equal(f.api.calls, want) {
		t.Fatalf("calls %q, want %q: the pending change applied as it arrived", f.api.calls, want)
	}
	written := f.stored(obj)
	if written.Status.ObservedGeneration != 2 {
		t.Fatalf("observedGeneration %d after the early pass, want 2", written.Status.ObservedGeneration)
	}
	checkCondition(t, written, v1alpha1.ConditionSynced, "True/ReconcileSuccess")

	f.cacheCopy.Store(arrivedAt)
	if res := f.work(obj); res.RequeueAfter != staleCacheWait {
		t.Fatalf("a worker reading the copy the early pass read: %+v, want a short wait for the cache", res)
	}
	f.cacheCopy.Store(nil)
	if res := f.work(obj); res.RequeueAfter != 0 {
		t.Fatalf("a worker reading the written copy: %+v, want nothing more", res)
	}
	if len(f.api.calls) != 2 {
		t.Fatalf("calls %q: the change was applied twice", f.api.calls)
	}
	if !f.r.early.idle.Load() {
		t.Error("the lane still holds passes once the cache showed them")
	}

	// After a worker ran, the lane is closed: a later initial list (a
	// relist) is the workers' alone.
	again := written.DeepCopy()
	again.Generation = 3
	f.arrive(again)
	if len(f.api.calls) != 2 {
		t.Fatalf("calls %q: an arrival after the workers started was applied early", f.api.calls)
	}
}

// What the Claim alone cannot decide is left to the workers, untouched:
// no call, no status write, and no wait for them.
func TestAnArrivalTheClaimCannotDecideIsLeftToTheWorkers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		obj    *v1alpha1.SIM
		claims []client.Object
		live   onomondo.SIM
		calls  []string
	}{
		{name: "no Claim recorded in status (never converged, or refused)",
			obj: simObj("s", byIMSI(imsiA, false), bound(imsiA, msisdnA, true), synced, newGeneration)},
		{name: "the Claim recorded is held by another resource",
			obj: simObj("s", byIMSI(imsiA, false), bound(imsiA, msisdnA, true), synced, newGeneration, holding), claims: []client.Object{heldBy("other")}},
		{name: "the Claim recorded is gone",
			obj: simObj("s", byIMSI(imsiA, false), bound(imsiA, msisdnA, true), synced, newGeneration, holding)},
		{name: "a new number another resource may claim",
			obj: simObj("s", v1alpha1.SIMSpec{IMSI: imsiA, MSISDN: msisdnB}, bound(imsiA, msisdnA, true), synced, newGeneration, holding), claims: []client.Object{heldBy("s")}},
		{name: "no pending change",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, msisdnA, true), synced, holding), claims: []client.Object{heldBy("s")}},
		{name: "being deleted",
			obj: simObj("s", byIMSI(imsiA, false), bound(imsiA, msisdnA, true), synced, newGeneration, holding, deleting), claims: []client.Object{heldBy("s")}},
		{name: "paused",
			obj: simObj("s", byIMSI(imsiA, false), bound(imsiA, msisdnA, true), synced, newGeneration, holding, annotated(v1alpha1.AnnotationPaused, "true")), claims: []client.Object{heldBy("s")}},
		{name: "observed only",
			obj: simObj("s", byIMSI(imsiA, false), bound(imsiA, msisdnA, true), synced, newGeneration, holding, observeOnly), claims: []client.Object{heldBy("s")}},
		{name: "the read names a number the SIM did not claim (a twin's, perhaps): only the read",
			obj: simObj("s", byIMSI(imsiA, false), bound(imsiA, msisdnA, true), synced, newGeneration, holding), claims: []client.Object{heldBy("s")},
			live: live(imsiA, msisdnB, true), calls: []string{"GET " + imsiA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.live.IMSI == "" {
				tc.live = live(imsiA, msisdnA, true)
			}
			f := newEarlyFixture(t, []onomondo.SIM{tc.live}, append(tc.claims, tc.obj)...)
			before := f.stored(tc.obj)
			converged := testutil.ToFloat64(metrics.EarlyChanges.WithLabelValues("SIM", "converged"))
			f.arrive(before)
			if testutil.ToFloat64(metrics.EarlyChanges.WithLabelValues("SIM", "converged")) != converged {
				t.Error("counted as converged")
			}
			if !slices.Equal(f.api.calls, tc.calls) {
				t.Fatalf("calls %q before the caches synced, want %q", f.api.calls, tc.calls)
			}
			if rec := f.r.recorder.(*fakeRecorder); len(rec.reasons) > 0 {
				t.Fatalf("events %q", rec.reasons)
			}
			if after := f.stored(tc.obj); after.ResourceVersion != before.ResourceVersion {
				t.Fatalf("the resource was written (resourceVersion %s → %s)", before.ResourceVersion, after.ResourceVersion)
			}
			if f.r.early.waits(before) {
				t.Fatal("a worker waits for an early pass that wrote nothing")
			}
		})
	}
}
