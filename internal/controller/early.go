package controller

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/metrics"
)

// Early changes. A starting manager's workers wait until every informer
// holds its whole initial list: at 50,000 SIMs, seconds of the apiserver
// encoding the fleet, in which a spec changed while no process watched
// waits too. The cache's own checks need the whole list (an older
// duplicate may still be on its way), but a resource that holds its Claim
// needs none of them: the Claim, read from the apiserver, says no other
// resource in any manager owns its object. So, as each object of the
// initial list arrives, the informer offers it to its kind's early lane;
// a resource with a pending spec change (generation ahead of
// status.observedGeneration) that holds its Claim is converged at once,
// by the same reconcile as later, with the Claim in place of the cache's
// claimant lookup. Anything else is left to the workers.
//
// Each resource is converged once: the lane closes when the first worker
// reconciles (no early pass starts after that), a worker finding a
// resource the lane is converging waits for it, and a worker reading the
// copy of the initial list that an early pass has since written waits for
// the cache to show the write (as for a binding this process wrote).
//
// The lane runs only in a manager without leader election: an elected
// manager's caches sync before it may write at all.

// Arrivals hands each object of a starting informer's initial list to the
// early lane of its kind, as the object arrives. The zero value has no
// lanes.
type Arrivals struct {
	lanes sync.Map // kind → func(context.Context, runtime.Object)
}

// Arrived returns what takes the objects of kind's initial list, nil if
// no lane does. ctx is the informer's: the lane's passes stop with it.
func (a *Arrivals) Arrived(kind string) func(context.Context, runtime.Object) {
	if a == nil {
		return nil
	}
	f, ok := a.lanes.Load(kind)
	if !ok {
		return nil
	}
	return f.(func(context.Context, runtime.Object))
}

// ApplyEarly converges, while the initial list still arrives, the pending
// changes of resources that hold their Claim (see Arrivals).
func (m *ManagedController[T]) ApplyEarly(a *Arrivals) {
	l := &earlyLane[T]{r: m.r, pending: make(chan T, earlyBacklog), workers: max(m.opts.MaxConcurrentReconciles, 1), done: make(chan struct{})}
	m.r.early = l
	a.lanes.Store(m.r.ext.kind(), l.offer)
}

// earlyBacklog is how many arrivals wait for an early pass; more are left
// to the workers.
const earlyBacklog = 1024

// earlyLane converges one kind's pending resources as they arrive.
type earlyLane[T managedObject] struct {
	r       *managedReconciler[T]
	pending chan T
	workers int
	start   sync.Once
	// queued counts the objects offered and not yet passed or dropped.
	queued sync.WaitGroup

	mu     sync.Mutex
	closed bool
	// done is closed with the lane: its goroutines end.
	done chan struct{}
	// passes are the resources an early pass converges or has written:
	// running, or the resourceVersion the pass read (the cache's copy
	// until it shows the write).
	passes map[types.NamespacedName]earlyPass
	// idle: closed with no pass left, so a worker need not lock.
	idle atomic.Bool
}

// earlyPass is one resource's early pass.
type earlyPass struct {
	running bool
	uid     types.UID
	readAt  string
}

// offer takes one object of the initial list: a resource with a pending
// change that may hold its Claim is queued for a pass (a deep copy: the
// informer transforms its own), anything else is ignored at once.
func (l *earlyLane[T]) offer(ctx context.Context, o runtime.Object) {
	obj, ok := o.(T)
	if !ok || !mayApplyEarly(obj) || l.isClosed() {
		return
	}
	l.start.Do(func() {
		for range l.workers {
			go l.work(ctx)
		}
	})
	l.queued.Add(1)
	select {
	case l.pending <- obj.DeepCopyObject().(T):
	default: // the workers will
		l.queued.Done()
	}
}

// mayApplyEarly: a live, unpaused resource with a pending spec change that
// has been converged before (its finalizer set, its Claim recorded) and
// is not only observed.
func mayApplyEarly(obj managedObject) bool {
	st := status(obj)
	return st.ObservedGeneration != obj.GetGeneration() && st.Claim != "" &&
		obj.GetDeletionTimestamp().IsZero() && !Paused(obj) && controllerutil.ContainsFinalizer(obj, Finalizer) &&
		policies(obj).ManagementPolicy != v1alpha1.ManagementPolicyObserveOnly
}

func (l *earlyLane[T]) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// work converges queued resources until the lane closes (what is still
// queued then is the workers') or ctx ends.
func (l *earlyLane[T]) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.done:
			return
		case obj := <-l.pending:
			if l.begin(obj) {
				readAt := obj.GetResourceVersion()
				l.end(obj, readAt, l.pass(ctx, obj))
			}
			l.queued.Done()
		}
	}
}

// begin marks obj's pass running, unless the lane closed.
func (l *earlyLane[T]) begin(obj T) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := client.ObjectKeyFromObject(obj)
	if _, seen := l.passes[key]; l.closed || seen {
		return false
	}
	if l.passes == nil {
		l.passes = map[types.NamespacedName]earlyPass{}
	}
	l.passes[key] = earlyPass{running: true}
	return true
}

// pass converges obj as a worker would, with its Claim in place of the
// cache's claimant lookup; wrote says its status was written.
func (l *earlyLane[T]) pass(ctx context.Context, obj T) (wrote bool) {
	ctx, _ = withEarly(ctx)
	_, wrote, err := l.r.converge(ctx, obj)
	log := logf.FromContext(ctx).WithValues("kind", l.r.ext.kind(), "object", client.ObjectKeyFromObject(obj))
	outcome := "left"
	switch {
	case wrote:
		outcome = "converged"
		log.Info("converged a pending change as it arrived, before the caches synced", "generation", obj.GetGeneration())
	case err != nil && !errors.Is(err, errNotEarly):
		log.V(1).Info("early pass failed; the workers retry", "error", err.Error())
	}
	metrics.EarlyChanges.WithLabelValues(l.r.ext.kind(), outcome).Inc()
	return wrote
}

// end records a pass's outcome: a written status is waited for (until the
// cache holds a later copy than readAt), anything else is the workers' as
// if no pass had run.
func (l *earlyLane[T]) end(obj T, readAt string, wrote bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := client.ObjectKeyFromObject(obj)
	if !wrote {
		delete(l.passes, key)
	} else {
		l.passes[key] = earlyPass{uid: obj.GetUID(), readAt: readAt}
	}
	l.idle.Store(l.closed && len(l.passes) == 0)
}

// waits closes the lane and says whether a worker reading obj must wait:
// an early pass converges it now, or wrote it after the copy the cache
// still holds.
func (l *earlyLane[T]) waits(obj T) bool {
	if l == nil || l.idle.Load() {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.done)
	}
	key := client.ObjectKeyFromObject(obj)
	p, ok := l.passes[key]
	if ok && !p.running && (p.uid != obj.GetUID() || p.readAt != obj.GetResourceVersion()) {
		delete(l.passes, key) // the cache shows the write, or another object by now
		ok = false
	}
	l.idle.Store(len(l.passes) == 0)
	return ok
}

// earlyPassState is what one early pass learns as it goes: the
// identifiers its resource claimed when it began, and whether the Claim
// could not decide (then nothing of the pass is written).
type earlyPassState struct {
	keys      []string
	undecided bool
}

type earlyKey struct{}

// withEarly marks ctx as an early pass's.
func withEarly(ctx context.Context) (context.Context, *earlyPassState) {
	st := &earlyPassState{}
	return context.WithValue(ctx, earlyKey{}, st), st
}

// earlyPassOf is the early pass ctx belongs to, nil for a worker's reconcile.
func earlyPassOf(ctx context.Context) *earlyPassState {
	st, _ := ctx.Value(earlyKey{}).(*earlyPassState)
	return st
}

// errNotEarly: the resource does not hold its Claim (or asks for an
// identifier another resource may claim), so only the whole cache can
// tell who owns its object. Nothing was written.
var errNotEarly = errors.New("not converged early: the cache's claimant lookup decides")

// claimHeld stands, in an early pass, for the cache's claimant lookup:
// the resource holds the Claim it would hold now (recorded in its status
// and, read from the apiserver, naming it), asks for no identifier another
// resource may claim, and claims no identifier it did not when the pass
// began (a read may name a twin's). Else the pass is undecided.
func (r *managedReconciler[T]) claimHeld(ctx context.Context, obj T, pass *earlyPassState) error {
	if err := r.holdsItsClaim(ctx, obj, pass); err != nil {
		pass.undecided = true
		return err
	}
	return nil
}

func (r *managedReconciler[T]) holdsItsClaim(ctx context.Context, obj T, pass *earlyPassState) error {
	if req, ok := r.ext.(requester[T]); ok && len(req.requestedKeys(obj)) > 0 {
		return errNotEarly
	}
	keys := r.ext.identity(obj).Keys
	if pass.keys == nil {
		pass.keys = keys
	} else if slices.ContainsFunc(keys, func(k string) bool { return !slices.Contains(pass.keys, k) }) {
		return errNotEarly
	}
	org, _ := ctx.Value(orgKey{}).(string)
	id := r.ext.identity(obj).Claim
	if r.claims == nil || org == "" || id == "" || status(obj).Claim != claimName(org, r.ext.kind(), id) {
		return errNotEarly
	}
	var c v1alpha1.Claim
	if err := r.claims.reader.Get(ctx, client.ObjectKey{Name: status(obj).Claim}, &c); err != nil {
		return errors.Join(errNotEarly, err)
	}
	if c.Spec.Holder.UID != obj.GetUID() {
		return errNotEarly
	}
	return nil
}
