package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// Finalizer holds a resource until its object is deleted in the API (or orphaned).
const Finalizer = "onomondo.sim-operator.dev/finalizer"

// apiIDIndex indexes each managed kind by the identifier it claims in the API.
const apiIDIndex = "spec.apiID"

// Condition reasons shared by the managed kinds, besides the API error reasons.
const (
	ReasonAvailable        = "Available"
	ReasonReconcileSuccess = "ReconcileSuccess"
	ReasonDiffers          = "Differs"
	// ReasonDuplicateSIM is the duplicate reason of SIMs; other kinds use "Duplicate"+kind.
	ReasonDuplicateSIM = "DuplicateSIM"
)

// managedObject is a resource mirrored by one object in the API.
type managedObject interface {
	client.Object
	Managed() (*v1alpha1.ManagedPolicies, *v1alpha1.ManagedStatus)
}

// external is the kind-specific half of a managed reconciler: how to talk to
// the API about one kind and how to compare what it says with the spec. The
// writes record what the API now holds in status.atProvider.
type external[T managedObject] interface {
	kind() string
	// id addresses the object in the API; claimKey is its identity for duplicate detection.
	id(T) string
	claimKey(T) string
	// observed: status.atProvider is set. upToDate: it matches the spec.
	observed(T) bool
	upToDate(T) bool
	// describe summarizes status.atProvider for events and messages.
	describe(T) string
	// status is the kind's status, compared to decide whether to write it.
	status(T) any
	// logValues identify the object in every log line (a SIM's IMSI and MSISDN).
	logValues(T) []any

	create(context.Context, T) error
	observe(context.Context, T) error
	update(context.Context, T) error
	remove(context.Context, T) error
	// exists reports whether a create error means the object is already there.
	exists(error) bool
}

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
}

// managedReconciler converges one managed kind: observe first, then exactly
// one of create, update, delete or nothing; status written once, when changed.
type managedReconciler[T managedObject] struct {
	client.Client
	ext      external[T]
	newObj   func() T
	newList  func() client.ObjectList
	recorder recorder.EventRecorder
	schedule *schedule
}

// Reconcile is the table of contents: read, delete or converge, and write
// status once at the end if it changed.
func (r *managedReconciler[T]) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	obj := r.newObj()
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		r.schedule.forget(req.NamespacedName)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx = logf.IntoContext(ctx, logf.FromContext(ctx).WithValues(r.ext.logValues(obj)...))
	orig := obj.DeepCopyObject().(T)
	defer func() { retErr = kerrors.NewAggregate([]error{retErr, r.patchStatus(ctx, orig, obj)}) }()

	if !obj.GetDeletionTimestamp().IsZero() {
		return r.reconcileDelete(ctx, obj)
	}
	return r.reconcileNormal(ctx, obj)
}

// reconcileNormal converges a live resource. Sets Ready and Synced.
func (r *managedReconciler[T]) reconcileNormal(ctx context.Context, obj T) (ctrl.Result, error) {
	if owner, err := r.olderClaim(ctx, obj); err != nil || owner != nil {
		if owner != nil {
			r.markDuplicate(obj, owner)
		}
		return ctrl.Result{}, err
	}
	if blockedByTerminalError(obj) {
		return ctrl.Result{}, nil // only a spec change (a new generation) is worth another call
	}
	if policies(obj).ManagementPolicy == v1alpha1.ManagementPolicyObserveOnly {
		return r.observeOnly(ctx, obj), nil
	}
	if err := r.ensureFinalizer(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}
	return r.converge(ctx, obj), nil
}

// converge makes exactly one decision: create, update, check for drift, or
// nothing. status.atProvider is the model of the remote object it decides on.
func (r *managedReconciler[T]) converge(ctx context.Context, obj T) ctrl.Result {
	key := client.ObjectKeyFromObject(obj)
	var err error
	switch {
	case !r.ext.observed(obj):
		err = r.create(ctx, obj)
	case !r.ext.upToDate(obj):
		err = r.update(ctx, obj, "Updated", "applied the spec change")
	case r.schedule.resume(key, inSync(obj)):
		err = r.checkDrift(ctx, obj)
	default:
		r.markSynced(obj)
		return ctrl.Result{RequeueAfter: r.schedule.remaining(key)}
	}
	if err != nil {
		return r.markFailed(ctx, obj, err)
	}
	r.markSynced(obj)
	return ctrl.Result{RequeueAfter: r.schedule.synced(key)}
}

// create makes the object with one POST. An "exists" answer means adopt it
// (GET, then PUT only if it differs).
func (r *managedReconciler[T]) create(ctx context.Context, obj T) error {
	err := r.ext.create(ctx, obj)
	switch {
	case err == nil:
		r.event(ctx, obj, corev1.EventTypeNormal, "Created", "created %s %s in the Onomondo API", r.ext.kind(), r.ext.id(obj))
		return nil
	case r.ext.exists(err):
		return r.adopt(ctx, obj, err)
	default:
		return err
	}
}

// adopt takes over an object that already exists. Sets atProvider.
func (r *managedReconciler[T]) adopt(ctx context.Context, obj T, conflict error) error {
	err := r.ext.observe(ctx, obj)
	if onomondo.IsNotFound(err) {
		return conflict // the conflict was over something else (a SIM's MSISDN held by another SIM)
	}
	if err != nil {
		return err
	}
	if r.ext.upToDate(obj) {
		r.event(ctx, obj, corev1.EventTypeNormal, "Adopted", "adopted existing %s %s; it already matched the spec", r.ext.kind(), r.ext.id(obj))
		return nil
	}
	r.event(ctx, obj, corev1.EventTypeNormal, "Adopted", "adopted existing %s %s; updating it to match the spec", r.ext.kind(), r.ext.id(obj))
	return r.update(ctx, obj, "Updated", "adopted "+r.ext.kind()+" updated")
}

// update PUTs the desired state; an object deleted behind our back is recreated.
func (r *managedReconciler[T]) update(ctx context.Context, obj T, reason, note string) error {
	err := r.ext.update(ctx, obj)
	if onomondo.IsNotFound(err) {
		return r.recreate(ctx, obj)
	}
	if err != nil {
		return err
	}
	r.event(ctx, obj, corev1.EventTypeNormal, reason, "%s: %s", note, r.ext.describe(obj))
	return nil
}

// checkDrift GETs the object and corrects any difference with one PUT.
func (r *managedReconciler[T]) checkDrift(ctx context.Context, obj T) error {
	err := r.ext.observe(ctx, obj)
	if onomondo.IsNotFound(err) {
		return r.recreate(ctx, obj)
	}
	if err != nil || r.ext.upToDate(obj) {
		return err
	}
	return r.update(ctx, obj, "DriftCorrected", "corrected a change made outside the operator, was "+r.ext.describe(obj))
}

func (r *managedReconciler[T]) recreate(ctx context.Context, obj T) error {
	if err := r.ext.create(ctx, obj); err != nil {
		return err
	}
	r.event(ctx, obj, corev1.EventTypeWarning, "Recreated", "%s %s was deleted outside the operator; created it again", r.ext.kind(), r.ext.id(obj))
	return nil
}

// observeOnly reads the object and reports it, never writing. Sets Ready
// (does the real object match the spec?) and Synced.
func (r *managedReconciler[T]) observeOnly(ctx context.Context, obj T) ctrl.Result {
	key := client.ObjectKeyFromObject(obj)
	if !r.schedule.resume(key, inSync(obj)) && status(obj).ObservedGeneration == obj.GetGeneration() {
		return ctrl.Result{RequeueAfter: r.schedule.remaining(key)}
	}
	if err := r.ext.observe(ctx, obj); err != nil {
		res := r.markFailed(ctx, obj, err)
		if res.IsZero() { // terminal: still worth a look next period, reading is harmless
			status(obj).LastError.Terminal = false
			res.RequeueAfter = r.schedule.synced(key)
		}
		return res
	}
	r.markSynced(obj)
	return ctrl.Result{RequeueAfter: r.schedule.synced(key)}
}

// reconcileDelete deletes the object in the API when the policy says so,
// then lets the resource go. An object never created, orphaned, observed
// only, or owned by another resource leaves without a call.
func (r *managedReconciler[T]) reconcileDelete(ctx context.Context, obj T) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return ctrl.Result{}, nil
	}
	owner, err := r.olderClaim(ctx, obj)
	if err != nil {
		return ctrl.Result{}, err
	}
	switch p := policies(obj); {
	case owner != nil || p.ManagementPolicy == v1alpha1.ManagementPolicyObserveOnly:
	case p.DeletionPolicy == v1alpha1.DeletionPolicyOrphan:
		r.event(ctx, obj, corev1.EventTypeNormal, "Orphaned", "left %s %s in the Onomondo API (deletionPolicy: Orphan)", r.ext.kind(), r.ext.id(obj))
	case r.ext.observed(obj) || mayHaveBeenCreated(obj):
		if err := r.ext.remove(ctx, obj); err != nil && !onomondo.IsNotFound(err) {
			return r.markFailed(ctx, obj, err), nil
		}
		r.event(ctx, obj, corev1.EventTypeNormal, "Deleted", "deleted %s %s in the Onomondo API", r.ext.kind(), r.ext.id(obj))
	}
	patch := client.MergeFromWithOptions(obj.DeepCopyObject().(T), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(obj, Finalizer)
	if err := r.Patch(ctx, obj, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.schedule.forget(client.ObjectKeyFromObject(obj))
	return ctrl.Result{}, nil
}

func policies(obj managedObject) *v1alpha1.ManagedPolicies { p, _ := obj.Managed(); return p }
func status(obj managedObject) *v1alpha1.ManagedStatus     { _, s := obj.Managed(); return s }

// mayHaveBeenCreated: an attempt whose outcome is unknown (a retryable error) may have created it.
func mayHaveBeenCreated(obj managedObject) bool {
	s := status(obj)
	return s.LastError != nil && !s.LastError.Terminal
}

// inSync: the status says the last reconcile of this generation succeeded.
func inSync(obj managedObject) bool {
	s := status(obj)
	return s.LastError == nil && s.ObservedGeneration == obj.GetGeneration() &&
		meta.IsStatusConditionTrue(s.Conditions, v1alpha1.ConditionSynced)
}

func blockedByTerminalError(obj managedObject) bool {
	s := status(obj)
	return s.LastError != nil && s.LastError.Terminal && s.ObservedGeneration == obj.GetGeneration()
}

// ensureFinalizer adds the finalizer before the first external write.
func (r *managedReconciler[T]) ensureFinalizer(ctx context.Context, obj T) error {
	if controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	// Patch a copy: the answer carries the stored status, and obj holds the one being built.
	withFinalizer := obj.DeepCopyObject().(T)
	controllerutil.AddFinalizer(withFinalizer, Finalizer)
	if err := r.Patch(ctx, withFinalizer, client.MergeFromWithOptions(obj, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	obj.SetFinalizers(withFinalizer.GetFinalizers())
	obj.SetResourceVersion(withFinalizer.GetResourceVersion())
	return nil
}

// olderClaim returns the oldest other resource claiming the same API
// identifier when it is older than obj (it owns the object), else nil.
func (r *managedReconciler[T]) olderClaim(ctx context.Context, obj T) (client.Object, error) {
	list := r.newList()
	// Read-only: no copies of the cached objects.
	if err := r.List(ctx, list, client.MatchingFields{apiIDIndex: r.ext.claimKey(obj)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	var owner client.Object
	for _, item := range items {
		other := item.(client.Object)
		if other.GetUID() != obj.GetUID() && olderThan(other, obj) && (owner == nil || olderThan(other, owner)) {
			owner = other
		}
	}
	return owner, nil
}

// olderThan orders claims: the older resource first; within the same second
// (creationTimestamp's resolution) the one already managing the object
// (holding the finalizer), so that a newcomer never takes over; then by
// namespace/name.
func olderThan(a, b client.Object) bool {
	at, bt := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !at.Equal(&bt) {
		return at.Before(&bt)
	}
	if am, bm := controllerutil.ContainsFinalizer(a, Finalizer), controllerutil.ContainsFinalizer(b, Finalizer); am != bm {
		return am
	}
	return a.GetNamespace()+"/"+a.GetName() < b.GetNamespace()+"/"+b.GetName()
}

// markDuplicate: Ready and Synced False, reason Duplicate<Kind>; no API call.
func (r *managedReconciler[T]) markDuplicate(obj T, owner client.Object) {
	msg := fmt.Sprintf("%s %s is managed by the older resource %s/%s; this one makes no API calls",
		r.ext.kind(), r.ext.id(obj), owner.GetNamespace(), owner.GetName())
	status(obj).ObservedGeneration = obj.GetGeneration()
	setCondition(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, "Duplicate"+r.ext.kind(), msg)
	setCondition(obj, v1alpha1.ConditionSynced, metav1.ConditionFalse, "Duplicate"+r.ext.kind(), msg)
}

// markSynced records a successful reconcile. Sets Synced True and Ready from
// whether atProvider matches the spec.
func (r *managedReconciler[T]) markSynced(obj T) {
	status(obj).ObservedGeneration = obj.GetGeneration()
	status(obj).LastError = nil
	setCondition(obj, v1alpha1.ConditionSynced, metav1.ConditionTrue, ReasonReconcileSuccess, "")
	if r.ext.upToDate(obj) {
		setCondition(obj, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAvailable, "the "+r.ext.kind()+" in the API matches the spec")
		return
	}
	setCondition(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonDiffers,
		"observe-only: the "+r.ext.kind()+" in the API has "+r.ext.describe(obj))
}

// markFailed records an API error in status and an event, and says when to
// retry: never for a terminal error (until the spec changes), else after a
// backoff that honours the API's Retry-After. Sets Synced and Ready False.
func (r *managedReconciler[T]) markFailed(ctx context.Context, obj T, err error) ctrl.Result {
	reason := Reason(err)
	status(obj).ObservedGeneration = obj.GetGeneration()
	status(obj).LastError = errorStatus(err)
	setCondition(obj, v1alpha1.ConditionSynced, metav1.ConditionFalse, reason, err.Error())
	if !r.ext.upToDate(obj) {
		setCondition(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, err.Error())
	}
	r.event(ctx, obj, corev1.EventTypeWarning, "SyncFailed", "%s", err.Error())
	if status(obj).LastError.Terminal {
		logf.FromContext(ctx).Info("terminal error; waiting for a spec change", "reason", reason)
		return ctrl.Result{}
	}
	key := client.ObjectKeyFromObject(obj)
	var wait time.Duration
	if onomondo.IsRateLimited(err) {
		// The client as a whole waits for the budget; this object is not at
		// fault, so its backoff does not grow: come back when the API said.
		wait = r.schedule.throttled(key, onomondo.RetryAfter(err))
	} else {
		wait = r.schedule.failed(key, onomondo.RetryAfter(err))
	}
	logf.FromContext(ctx).Info("retryable error; backing off", "reason", reason, "retryIn", wait)
	return ctrl.Result{RequeueAfter: wait}
}

func setCondition(obj managedObject, typ string, st metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&status(obj).Conditions, metav1.Condition{
		Type: typ, Status: st, Reason: reason, Message: msg, ObservedGeneration: obj.GetGeneration(),
	})
}

// patchStatus writes status once, and only when it changed.
func (r *managedReconciler[T]) patchStatus(ctx context.Context, orig, obj T) error {
	if equality.Semantic.DeepEqual(r.ext.status(orig), r.ext.status(obj)) {
		return nil
	}
	return client.IgnoreNotFound(r.Status().Patch(ctx, obj, client.MergeFrom(orig)))
}

// event records a Kubernetes event and logs the same line (with the
// resource's namespace/name and identifier from the context's logger).
func (r *managedReconciler[T]) event(ctx context.Context, obj T, typ, reason, format string, args ...any) {
	logf.FromContext(ctx).Info(fmt.Sprintf(format, args...), "event", reason)
	if r.recorder != nil {
		r.recorder.Eventf(obj, nil, typ, reason, reason, format, args...)
	}
}

// setup registers the controller, its index, and its watches. Status and
// finalizer writes do not trigger reconciles (generation predicate): the
// controller wakes for spec changes, deletion, its own timers, and the coming
// and going of a resource that claims the same identifier.
func (r *managedReconciler[T]) setup(mgr ctrl.Manager, name string, o ManagedOptions) error {
	if o.SyncPeriod == 0 {
		o.SyncPeriod = 10 * time.Minute
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	r.schedule = newSchedule(o.SyncPeriod, o.SyncJitter, o.MinBackoff, o.MaxBackoff)
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), r.newObj(), apiIDIndex,
		func(obj client.Object) []string { return []string{r.ext.claimKey(obj.(T))} }); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(r.newObj(), builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, deletionStarted))).
		Watches(r.newObj(), handler.EnqueueRequestsFromMapFunc(r.sameIdentifier),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(o.MaxConcurrentReconciles, 1)}).
		Named(name).
		Complete(r)
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

// sameIdentifier wakes the other resources that claim the same identifier.
func (r *managedReconciler[T]) sameIdentifier(ctx context.Context, obj client.Object) []reconcile.Request {
	list := r.newList()
	if err := r.List(ctx, list, client.MatchingFields{apiIDIndex: r.ext.claimKey(obj.(T))}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	items, _ := meta.ExtractList(list)
	var reqs []reconcile.Request
	for _, item := range items {
		if other := item.(client.Object); other.GetUID() != obj.GetUID() {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: other.GetNamespace(), Name: other.GetName()}})
		}
	}
	return reqs
}
