package controller

import (
	"context"
	"fmt"
	"hash/maphash"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/metrics"
	"github.com/sim-operator/sim-operator/internal/schedule"
)

// The controllers' defaults, the one source of them (the manager's flags
// default to these too).
const (
	DefaultSyncPeriod              = 10 * time.Minute
	DefaultSyncJitter              = 0.1
	DefaultMinBackoff              = time.Second
	DefaultMaxBackoff              = 5 * time.Minute
	DefaultMaxConcurrentReconciles = 8
)

// ManagedOptions tune a managed controller.
type ManagedOptions struct {
	// SyncPeriod is how often an in-sync object is read back to detect drift.
	SyncPeriod time.Duration
	// SyncJitter spreads drift checks by ±this fraction of SyncPeriod.
	SyncJitter float64
	// MinBackoff and MaxBackoff bound retries of retryable API errors.
	MinBackoff, MaxBackoff time.Duration
	// MaxConcurrentReconciles is the number of objects reconciled at once.
	MaxConcurrentReconciles int
	// APIRate is the default account's budget in calls per second (0 or
	// less: unlimited). Drift checks take at most half of it: a larger
	// fleet stretches the drift period rather than delay spec changes.
	APIRate float64
}

func (o ManagedOptions) withDefaults() ManagedOptions {
	if o.SyncPeriod == 0 {
		o.SyncPeriod = DefaultSyncPeriod
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	return o
}

// ManagedController runs the managed reconciler of one kind (SIM or
// Connector) in a manager: its claim index and its watches.
type ManagedController[T managedObject] struct {
	r    *managedReconciler[T]
	name string
	opts ManagedOptions
	// wake carries resources to reconcile at once (a new API key).
	wake chan event.GenericEvent
	// more adds the kind's own watches.
	more func(*builder.Builder) *builder.Builder
}

// UseAccounts makes each resource's calls go through its account's client.
func (m *ManagedController[T]) UseAccounts(a *Accounts) { m.r.accounts = a }

// recordEvent records a Kubernetes event and logs the same line (with the
// resource's namespace/name and identifiers from the context's logger),
// clipped, and with identifiers redacted when that is asked for.
func recordEvent(ctx context.Context, rec recorder.EventRecorder, obj client.Object, typ, reason, format string, args ...any) {
	msg := clip(redact(fmt.Sprintf(format, args...)))
	logf.FromContext(ctx).Info(msg, "event", reason)
	if rec != nil {
		rec.Eventf(obj, nil, typ, reason, reason, "%s", msg)
	}
}

// SetupWithManager registers the controller, its index, and its watches.
// Status and finalizer writes do not trigger reconciles (generation
// predicate): the controller wakes for spec changes, deletion, its own
// timers, a new API key, a resource claiming the same identifiers coming,
// going or learning its binding, and what decides its account changing.
func (m *ManagedController[T]) SetupWithManager(mgr ctrl.Manager) error {
	r := m.r
	r.Client = mgr.GetClient()
	r.claims = &claimStore{client: mgr.GetClient(), reader: mgr.GetAPIReader()}
	if err := metrics.RegisterOverdue(r.ext.kind(), r.schedule); err != nil {
		return err
	}
	if r.early != nil {
		if err := metrics.RegisterEarlyChanges(); err != nil {
			return err
		}
	}
	if err := indexAcrossNamespaces(mgr.GetCache(), r.newObj(), apiIDIndex,
		func(obj client.Object) []string { return bucketsOf(r.ext.identity(obj.(T)).Keys) }); err != nil {
		return err
	}
	if req, ok := r.ext.(requester[T]); ok {
		if err := indexAcrossNamespaces(mgr.GetCache(), r.newObj(), requestedIndex,
			func(obj client.Object) []string { return bucketsOf(req.requestedKeys(obj.(T))) }); err != nil {
			return err
		}
	}
	if err := countFleet(mgr.GetCache(), r.newObj(), func(o client.Object) string { return accountOf(o.(T)) }, r.schedule); err != nil {
		return err
	}
	m.wake = make(chan event.GenericEvent)
	b := ctrl.NewControllerManagedBy(mgr).
		For(r.newObj(), builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, deletionStarted,
			annotationChanged(v1alpha1.AnnotationPaused, v1alpha1.AnnotationRequestedAt)))).
		Watches(r.newObj(), handler.EnqueueRequestsFromMapFunc(r.sameIdentifier),
			builder.WithPredicates(r.claimsChanged())).
		Watches(r.newObj(), pendingFirst[T]()).
		Watches(r.newObj(), r.cacheCaughtUp()).
		WatchesRawSource(source.Channel(m.wake, &handler.EnqueueRequestForObject{})).
		WatchesRawSource(driftPump(r.schedule)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(m.opts.MaxConcurrentReconciles, 1)}).
		Named(m.name)
	b = watchAccounts(b, mgr.GetCache(), r.newObj())
	if m.more != nil {
		b = m.more(b)
	}
	return b.Complete(r)
}

// driftTick is how often the drift pump looks for due drift checks.
const driftTick = 200 * time.Millisecond

// driftPump queues the drift checks the schedule finds due, at low
// priority, every driftTick: the workqueue holds a resource only once its
// check is due, not a delayed item per resource for the whole period.
func driftPump(s *schedule.Schedule) source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		go func() {
			tick := time.NewTicker(driftTick)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					queueDrifts(q, s.DueDrifts())
				}
			}
		}()
		return nil
	})
}

// queueDrifts adds due drift checks to q at low priority.
func queueDrifts(q workqueue.TypedRateLimitingInterface[reconcile.Request], keys []types.NamespacedName) {
	reqs := make([]reconcile.Request, len(keys))
	for i, k := range keys {
		reqs[i] = reconcile.Request{NamespacedName: k}
	}
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(handler.LowPriority)}, reqs...)
		return
	}
	for _, req := range reqs {
		q.Add(req)
	}
}

// pendingFirst raises, in the initial list a starting process sees, the
// priority of the objects that wait for it: a spec changed while no process
// watched (generation ahead of status.observedGeneration), or a deletion.
// For's handler queues the whole initial list at low priority, so after a
// restart such a change waited behind every in-sync SIM of the fleet.
func pendingFirst[T managedObject]() handler.EventHandler {
	return handler.Funcs{CreateFunc: func(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		obj, ok := e.Object.(T)
		if !ok || !e.IsInInitialList || (status(obj).ObservedGeneration == obj.GetGeneration() && obj.GetDeletionTimestamp().IsZero()) {
			return
		}
		if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
			pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(0)}, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
		}
	}}
}

// cacheCaughtUp forgets a binding this process wrote once the cache shows
// it (see staleUnbound): kept until the object's next reconcile, the
// entries of a fleet created at once would stay a whole drift period.
func (r *managedReconciler[T]) cacheCaughtUp() handler.EventHandler {
	return handler.Funcs{UpdateFunc: func(_ context.Context, e event.UpdateEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		obj, ok := e.ObjectNew.(T)
		if !ok {
			return
		}
		key := client.ObjectKeyFromObject(obj)
		if _, waiting := r.justBound.Load(key); waiting && r.ext.recorded(obj).Bound { // most events find no wait
			r.justBound.CompareAndDelete(key, obj.GetUID())
		}
	}}
}

// claimsChanged passes the events after which another resource may own, or
// no longer own, what a resource claims: one appearing or going, a change
// of the identifiers it claims (a binding learnt from the API), and its
// account being refused or allowed.
func (r *managedReconciler[T]) claimsChanged() predicate.Funcs {
	return predicate.Funcs{
		// A starting process queues every resource of its initial list
		// anyway: waking their claimants too is a lookup per resource for nothing.
		CreateFunc: func(e event.CreateEvent) bool { return !e.IsInInitialList },
		UpdateFunc: func(e event.UpdateEvent) bool {
			old, cur := e.ObjectOld.(T), e.ObjectNew.(T)
			return !slices.Equal(r.ext.identity(old).Keys, r.ext.identity(cur).Keys) || refusedAccount(old) != refusedAccount(cur)
		},
	}
}

// RetryCredentials wakes, at once and without their backoff, the resources
// whose last call failed because the API refused the key: a new key may
// have fixed them.
func (m *ManagedController[T]) RetryCredentials(ctx context.Context) {
	r := m.r
	list := r.newList()
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		logf.FromContext(ctx).Error(err, "listing resources to retry after a key change")
		return
	}
	items, _ := meta.ExtractList(list)
	var due []client.Object
	for _, item := range items {
		obj := item.(T)
		if c := meta.FindStatusCondition(status(obj).Conditions, v1alpha1.ConditionSynced); c != nil && credentialsReason(c.Reason) {
			r.schedule.Forget(client.ObjectKeyFromObject(obj))
			due = append(due, obj)
		}
	}
	go wakeAll(ctx, m.wake, due)
}

// wakeAll queues each object for a reconcile through a controller's channel source.
func wakeAll(ctx context.Context, wake chan<- event.GenericEvent, objs []client.Object) {
	for _, obj := range objs {
		select {
		case wake <- event.GenericEvent{Object: obj}:
		case <-ctx.Done():
			return
		}
	}
}

// annotationChanged passes the updates that change one of these annotations:
// pause, resume and sync requests reach the controller without a spec change.
func annotationChanged(keys ...string) predicate.Funcs {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			for _, k := range keys {
				if e.ObjectOld.GetAnnotations()[k] != e.ObjectNew.GetAnnotations()[k] {
					return true
				}
			}
			return false
		},
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// deletionStarted passes the update that sets deletionTimestamp.
var deletionStarted = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
	},
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// sameIdentifier wakes the other resources that claim any of the same identifiers.
func (r *managedReconciler[T]) sameIdentifier(ctx context.Context, obj client.Object) []reconcile.Request {
	others, err := r.otherClaimants(ctx, obj.(T))
	if err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(others))
	for _, other := range others {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(other)})
	}
	if req, ok := r.ext.(requester[T]); ok {
		// Resources waiting to take one of obj's identifiers (a number change).
		for _, key := range r.ext.identity(obj.(T)).Keys {
			waiting, _ := withKey(ctx, r.Client, r.newList, requestedIndex, key, req.requestedKeys) // none on a cache error
			for _, w := range waiting {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(w)})
			}
		}
	}
	return reqs
}

// countFleet keeps a count of the kind's objects per account from the
// informer's own events, for the schedule to stretch an account's drift
// period for its whole fleet from the first object resumed after a restart.
func countFleet(c cache.Cache, obj client.Object, accountOf func(client.Object) string, s *schedule.Schedule) error {
	inf, err := c.GetInformer(context.Background(), obj, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	var mu sync.Mutex
	counts := map[string]int{}
	add := func(o any, n int) {
		if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
			o = d.Obj
		}
		if obj, ok := o.(client.Object); ok {
			mu.Lock()
			defer mu.Unlock()
			counts[accountOf(obj)] += n
		}
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { add(o, 1) },
		UpdateFunc: func(old, o any) { add(old, -1); add(o, 1) },
		DeleteFunc: func(o any) { add(o, -1) },
	})
	if err != nil {
		return err
	}
	s.Fleet = func() map[string]int {
		if !reg.HasSynced() {
			return nil // the initial list is still arriving
		}
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(counts)
	}
	return nil
}

// indexAcrossNamespaces indexes a kind in the cache by values, an index only
// ever queried across namespaces: controller-runtime's IndexField would
// also index each object under its namespace, a second set entry per
// object that nothing reads. The index lives in the informer, so it
// changes with the cache's objects, never after them. The index name and
// the prefix are controller-runtime's (field:NAME, __all_namespaces/), so
// client.MatchingFields without a namespace reads it.
//
// The identifier indexes hold buckets, not the identifiers: client-go
// keeps a set per index value, and a set per identifier, two or three per
// SIM, was the largest part of the cache's heap after the objects
// themselves (docs/performance.md). A lookup (withKey) reads the
// identifier's bucket, a few resources at a fleet of 50,000, and keeps
// those that claim it.
func indexAcrossNamespaces(c cache.Cache, obj client.Object, field string, values func(client.Object) []string) error {
	inf, err := c.GetInformer(context.Background(), obj, cache.BlockUntilSynced(false))
	if err != nil {
		return err
	}
	return inf.AddIndexers(toolscache.Indexers{"field:" + field: func(o any) ([]string, error) {
		obj, ok := o.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%T is not an object", o)
		}
		values := values(obj)
		for i, v := range values {
			values[i] = allNamespaces + v
		}
		return values, nil
	}})
}

// keysAcrossNamespaces are the cache keys (namespace/name) of obj's kind
// whose index field holds value, read from an indexAcrossNamespaces index
// (or with field "", from the namespace index: value is a namespace).
// No object is read: at 50,000 SIMs, a List would decode them all. c must
// be an IndexedInformers' Cache.
func keysAcrossNamespaces(c cache.Cache, obj client.Object, field, value string) ([]string, error) {
	ic, ok := c.(indexedCache)
	if !ok {
		return nil, fmt.Errorf("the cache does not keep its informers' indexes (%T)", c)
	}
	index := toolscache.NamespaceIndex
	if field != "" {
		index, value = "field:"+field, allNamespaces+value
	}
	return ic.informers.keys(obj, index, value)
}

// IndexedInformers records the informers a cache builds, so that the keys
// of a kind's index values can be read without reading its objects (see
// keysAcrossNamespaces). A cache of several namespaces builds one informer
// per namespace.
type IndexedInformers struct {
	mu     sync.Mutex
	byType map[reflect.Type][]toolscache.Indexer
}

// Record notes inf, the cache's informer of obj's type.
func (x *IndexedInformers) Record(obj runtime.Object, inf toolscache.SharedIndexInformer) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byType == nil {
		x.byType = map[reflect.Type][]toolscache.Indexer{}
	}
	t := reflect.TypeOf(obj)
	x.byType[t] = append(x.byType[t], inf.GetIndexer())
}

// Cache is c, whose informers x records, for keysAcrossNamespaces.
func (x *IndexedInformers) Cache(c cache.Cache) cache.Cache {
	return indexedCache{Cache: c, informers: x}
}

type indexedCache struct {
	cache.Cache
	informers *IndexedInformers
}

func (x *IndexedInformers) keys(obj client.Object, index, value string) ([]string, error) {
	x.mu.Lock()
	indexers := x.byType[reflect.TypeOf(obj)]
	x.mu.Unlock()
	if len(indexers) == 0 {
		return nil, fmt.Errorf("no informer of %T recorded", obj)
	}
	var keys []string
	for _, ix := range indexers {
		k, err := ix.IndexKeys(index, value)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k...)
	}
	return keys, nil
}

// keyBuckets is the number of buckets of the identifier indexes: a bucket
// holds about six resources at 50,000 SIMs with two identifiers each. More
// buckets cost more small sets; fewer make each lookup read more resources.
const keyBuckets = 16384

// bucketSeed seeds the buckets' hash: an index lives in one process only.
var bucketSeed = maphash.MakeSeed()

// bucketName is the index value of an identifier's bucket: its hash,
// modulo keyBuckets, in hex.
func bucketName(key string) string {
	return strconv.FormatUint(maphash.String(bucketSeed, key)%keyBuckets, 16)
}

// allNamespaces is controller-runtime's prefix of a cluster-wide index value.
const allNamespaces = "__all_namespaces/"

// bucketsOf are the buckets of keys, each once.
func bucketsOf(keys []string) []string {
	var out []string
	for _, k := range keys {
		if n := bucketName(k); !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// withKey are the resources of the cache (read-only, no copies) whose keys
// include key, read from the bucketed index.
func withKey[T client.Object](ctx context.Context, c client.Reader, newList func() client.ObjectList, index, key string, keys func(T) []string) ([]T, error) {
	list := newList()
	if err := c.List(ctx, list, client.MatchingFields{index: bucketName(key)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, item := range items {
		if o := item.(T); slices.Contains(keys(o), key) {
			out = append(out, o)
		}
	}
	return out, nil
}
