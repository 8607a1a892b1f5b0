package controller

import (
	"context"
	"fmt"
	"strings"
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

// Finalizer holds a SIM resource until its SIM is deleted in the API (or orphaned).
const Finalizer = "onomondo.sim-operator.dev/finalizer"

// simIDIndex indexes SIMs by the identifier they address in the API.
const simIDIndex = "spec.apiID"

// Condition reasons of the SIM kind besides the API error reasons.
const (
	ReasonAvailable        = "Available"
	ReasonReconcileSuccess = "ReconcileSuccess"
	ReasonCreating         = "Creating"
	ReasonDiffers          = "Differs"
	ReasonDuplicateSIM     = "DuplicateSIM"
)

// SIMAPI is what the SIM controller needs from the Onomondo client.
type SIMAPI interface {
	GetSIM(ctx context.Context, id string) (*onomondo.SIM, error)
	CreateSIM(ctx context.Context, id string, s onomondo.SIM) error
	UpdateSIM(ctx context.Context, id string, s onomondo.SIM) error
	DeleteSIM(ctx context.Context, id string) error
}

// SIMOptions tune the SIM controller.
type SIMOptions struct {
	// SyncPeriod is how often an in-sync SIM is read back to detect drift.
	SyncPeriod time.Duration
	// SyncJitter spreads drift checks by ±this fraction of SyncPeriod.
	SyncJitter float64
	// MinBackoff and MaxBackoff bound retries of retryable API errors.
	MinBackoff, MaxBackoff time.Duration
	// MaxConcurrentReconciles is the number of SIMs reconciled at once.
	MaxConcurrentReconciles int
}

// SIMReconciler makes SIMs in the Onomondo API match SIM resources.
type SIMReconciler struct {
	client.Client
	API      SIMAPI
	Recorder recorder.EventRecorder
	Options  SIMOptions
	schedule *schedule
}

// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=sims,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=sims/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=sims/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile is the table of contents: read, delete or converge, and write
// status once at the end if it changed.
func (r *SIMReconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, retErr error) {
	sim := &v1alpha1.SIM{}
	if err := r.Get(ctx, req.NamespacedName, sim); err != nil {
		r.schedule.forget(req.NamespacedName)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx = logf.IntoContext(ctx, logf.FromContext(ctx).WithValues("imsi", sim.Spec.IMSI, "msisdn", sim.Spec.MSISDN))
	orig := sim.DeepCopy()
	defer func() { retErr = kerrors.NewAggregate([]error{retErr, r.patchStatus(ctx, orig, sim)}) }()

	if !sim.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, sim)
	}
	return r.reconcileNormal(ctx, sim)
}

// reconcileNormal converges a live SIM resource. Sets Ready and Synced.
func (r *SIMReconciler) reconcileNormal(ctx context.Context, sim *v1alpha1.SIM) (ctrl.Result, error) {
	if owner, err := r.olderClaim(ctx, sim); err != nil || owner != nil {
		if owner != nil {
			r.markDuplicate(sim, owner)
		}
		return ctrl.Result{}, err
	}
	if blockedByTerminalError(sim) {
		return ctrl.Result{}, nil // only a spec change (a new generation) is worth another call
	}
	if sim.Spec.ManagementPolicy == v1alpha1.ManagementPolicyObserveOnly {
		return r.observeOnly(ctx, sim), nil
	}
	if err := r.ensureFinalizer(ctx, sim); err != nil {
		return ctrl.Result{}, err
	}
	return r.converge(ctx, sim), nil
}

// converge makes exactly one decision: create, update, check for drift, or
// nothing. status.atProvider is the model of the remote SIM it decides on.
func (r *SIMReconciler) converge(ctx context.Context, sim *v1alpha1.SIM) ctrl.Result {
	key := client.ObjectKeyFromObject(sim)
	desired := desiredSIM(sim)
	var err error
	switch {
	case sim.Status.AtProvider == nil:
		err = r.create(ctx, sim, desired)
	case !matches(sim.Status.AtProvider, sim):
		err = r.update(ctx, sim, desired, "Updated", "applied the spec change")
	case r.schedule.due(key):
		err = r.checkDrift(ctx, sim, desired)
	default:
		r.markSynced(sim)
		return ctrl.Result{RequeueAfter: r.schedule.remaining(key)}
	}
	if err != nil {
		return r.markFailed(ctx, sim, err)
	}
	r.markSynced(sim)
	return ctrl.Result{RequeueAfter: r.schedule.synced(key)}
}

// create makes the SIM with one POST. A 409 imsi_conflict means it exists:
// adopt it (GET, then PUT only if it differs).
func (r *SIMReconciler) create(ctx context.Context, sim *v1alpha1.SIM, desired onomondo.SIM) error {
	err := r.API.CreateSIM(ctx, sim.APIID(), desired)
	switch {
	case err == nil:
		sim.Status.AtProvider = observation(&desired)
		r.event(ctx, sim, corev1.EventTypeNormal, "Created", "created SIM %s in the Onomondo API", sim.APIID())
		return nil
	case onomondo.IsCode(err, onomondo.CodeIMSIConflict):
		return r.adopt(ctx, sim, desired, err)
	default:
		return err
	}
}

// adopt takes over a SIM that already exists. Sets atProvider.
func (r *SIMReconciler) adopt(ctx context.Context, sim *v1alpha1.SIM, desired onomondo.SIM, conflict error) error {
	current, err := r.API.GetSIM(ctx, sim.APIID())
	if onomondo.IsNotFound(err) {
		return conflict // the conflict was over the MSISDN, held by another SIM
	}
	if err != nil {
		return err
	}
	sim.Status.AtProvider = observation(current)
	if matches(sim.Status.AtProvider, sim) {
		r.event(ctx, sim, corev1.EventTypeNormal, "Adopted", "adopted existing SIM %s; it already matched the spec", sim.APIID())
		return nil
	}
	r.event(ctx, sim, corev1.EventTypeNormal, "Adopted", "adopted existing SIM %s; updating it to match the spec", sim.APIID())
	return r.update(ctx, sim, desired, "Updated", "adopted SIM updated")
}

// update PUTs the desired state; a SIM deleted behind our back is recreated.
func (r *SIMReconciler) update(ctx context.Context, sim *v1alpha1.SIM, desired onomondo.SIM, reason, note string) error {
	err := r.API.UpdateSIM(ctx, sim.APIID(), desired)
	if onomondo.IsNotFound(err) {
		return r.recreate(ctx, sim, desired)
	}
	if err != nil {
		return err
	}
	sim.Status.AtProvider = observation(&desired)
	r.event(ctx, sim, corev1.EventTypeNormal, reason, "%s: %s", note, settingsOf(desired))
	return nil
}

// checkDrift GETs the SIM and corrects any difference with one PUT.
func (r *SIMReconciler) checkDrift(ctx context.Context, sim *v1alpha1.SIM, desired onomondo.SIM) error {
	current, err := r.API.GetSIM(ctx, sim.APIID())
	if onomondo.IsNotFound(err) {
		return r.recreate(ctx, sim, desired)
	}
	if err != nil {
		return err
	}
	sim.Status.AtProvider = observation(current)
	if matches(sim.Status.AtProvider, sim) {
		return nil
	}
	return r.update(ctx, sim, desired, "DriftCorrected", "corrected a change made outside the operator, was "+settingsOf(*current))
}

func (r *SIMReconciler) recreate(ctx context.Context, sim *v1alpha1.SIM, desired onomondo.SIM) error {
	if err := r.API.CreateSIM(ctx, sim.APIID(), desired); err != nil {
		return err
	}
	sim.Status.AtProvider = observation(&desired)
	r.event(ctx, sim, corev1.EventTypeWarning, "Recreated", "SIM %s was deleted outside the operator; created it again", sim.APIID())
	return nil
}

// observeOnly reads the SIM and reports it, never writing. Sets Ready
// (does the real SIM match the spec?) and Synced.
func (r *SIMReconciler) observeOnly(ctx context.Context, sim *v1alpha1.SIM) ctrl.Result {
	key := client.ObjectKeyFromObject(sim)
	if !r.schedule.due(key) && sim.Status.ObservedGeneration == sim.Generation {
		return ctrl.Result{RequeueAfter: r.schedule.remaining(key)}
	}
	current, err := r.API.GetSIM(ctx, sim.APIID())
	if err != nil {
		res := r.markFailed(ctx, sim, err)
		if res.IsZero() { // terminal: still worth a look next period, reading is harmless
			sim.Status.LastError.Terminal = false
			res.RequeueAfter = r.schedule.synced(key)
		}
		return res
	}
	sim.Status.AtProvider = observation(current)
	r.markSynced(sim)
	return ctrl.Result{RequeueAfter: r.schedule.synced(key)}
}

// reconcileDelete deletes the SIM in the API when the policy says so, then
// lets the resource go. A SIM never created, orphaned, observed only, or
// owned by another resource leaves without a call.
func (r *SIMReconciler) reconcileDelete(ctx context.Context, sim *v1alpha1.SIM) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(sim, Finalizer) {
		return ctrl.Result{}, nil
	}
	owner, err := r.olderClaim(ctx, sim)
	if err != nil {
		return ctrl.Result{}, err
	}
	switch {
	case owner != nil || sim.Spec.ManagementPolicy == v1alpha1.ManagementPolicyObserveOnly:
	case sim.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan:
		r.event(ctx, sim, corev1.EventTypeNormal, "Orphaned", "left SIM %s in the Onomondo API (deletionPolicy: Orphan)", sim.APIID())
	case mayExist(sim):
		if err := r.API.DeleteSIM(ctx, sim.APIID()); err != nil && !onomondo.IsNotFound(err) {
			return r.markFailed(ctx, sim, err), nil
		}
		r.event(ctx, sim, corev1.EventTypeNormal, "Deleted", "deleted SIM %s in the Onomondo API", sim.APIID())
	}
	patch := client.MergeFromWithOptions(sim.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(sim, Finalizer)
	if err := r.Patch(ctx, sim, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.schedule.forget(client.ObjectKeyFromObject(sim))
	return ctrl.Result{}, nil
}

// mayExist is false only when the SIM was certainly never created: no
// observation, and no attempt whose outcome is unknown.
func mayExist(sim *v1alpha1.SIM) bool {
	return sim.Status.AtProvider != nil || (sim.Status.LastError != nil && !sim.Status.LastError.Terminal)
}

func blockedByTerminalError(sim *v1alpha1.SIM) bool {
	return sim.Status.LastError != nil && sim.Status.LastError.Terminal &&
		sim.Status.ObservedGeneration == sim.Generation
}

// ensureFinalizer adds the finalizer before the first external write.
func (r *SIMReconciler) ensureFinalizer(ctx context.Context, sim *v1alpha1.SIM) error {
	if controllerutil.ContainsFinalizer(sim, Finalizer) {
		return nil
	}
	patch := client.MergeFromWithOptions(sim.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(sim, Finalizer)
	status := sim.Status // the patch answer carries the stored status; keep ours
	err := r.Patch(ctx, sim, patch)
	sim.Status = status
	return err
}

// olderClaim returns the oldest other SIM resource addressing the same API
// identifier when it is older than sim (it owns the SIM), else nil.
func (r *SIMReconciler) olderClaim(ctx context.Context, sim *v1alpha1.SIM) (*v1alpha1.SIM, error) {
	var list v1alpha1.SIMList
	if err := r.List(ctx, &list, client.MatchingFields{simIDIndex: apiIDKey(sim)}); err != nil {
		return nil, err
	}
	var owner *v1alpha1.SIM
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID != sim.UID && olderThan(other, sim) && (owner == nil || olderThan(other, owner)) {
			owner = other
		}
	}
	return owner, nil
}

// olderThan orders claims: the older resource first; within the same second
// (creationTimestamp's resolution) the one already managing the SIM (holding
// the finalizer), so that a newcomer never takes over; then by namespace/name.
func olderThan(a, b *v1alpha1.SIM) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if am, bm := controllerutil.ContainsFinalizer(a, Finalizer), controllerutil.ContainsFinalizer(b, Finalizer); am != bm {
		return am
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

// apiIDKey is the index value: the identifier as the API resolves it.
func apiIDKey(sim *v1alpha1.SIM) string {
	if sim.Spec.IMSI != "" {
		return "imsi:" + sim.Spec.IMSI
	}
	return "msisdn:" + strings.TrimPrefix(sim.Spec.MSISDN, "+")
}

// markDuplicate: Ready and Synced False, reason DuplicateSIM; no API call.
func (r *SIMReconciler) markDuplicate(sim *v1alpha1.SIM, owner *v1alpha1.SIM) {
	msg := fmt.Sprintf("SIM %s is managed by the older resource %s/%s; this one makes no API calls", sim.APIID(), owner.Namespace, owner.Name)
	sim.Status.ObservedGeneration = sim.Generation
	setCondition(sim, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonDuplicateSIM, msg)
	setCondition(sim, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonDuplicateSIM, msg)
}

// markSynced records a successful reconcile. Sets Synced True and Ready from
// whether atProvider matches the spec.
func (r *SIMReconciler) markSynced(sim *v1alpha1.SIM) {
	sim.Status.ObservedGeneration = sim.Generation
	sim.Status.LastError = nil
	setCondition(sim, v1alpha1.ConditionSynced, metav1.ConditionTrue, ReasonReconcileSuccess, "")
	if matches(sim.Status.AtProvider, sim) {
		setCondition(sim, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAvailable, "the SIM in the API matches the spec")
		return
	}
	setCondition(sim, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonDiffers,
		"observe-only: the SIM in the API has "+settingsOf(toAPI(sim.Status.AtProvider)))
}

// markFailed records an API error in status and an event, and says when to
// retry: never for a terminal error (until the spec changes), else after a
// backoff that honours the API's Retry-After. Sets Synced and Ready False.
func (r *SIMReconciler) markFailed(ctx context.Context, sim *v1alpha1.SIM, err error) ctrl.Result {
	reason := Reason(err)
	sim.Status.ObservedGeneration = sim.Generation
	sim.Status.LastError = errorStatus(err)
	setCondition(sim, v1alpha1.ConditionSynced, metav1.ConditionFalse, reason, err.Error())
	if !matches(sim.Status.AtProvider, sim) {
		setCondition(sim, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, err.Error())
	}
	r.event(ctx, sim, corev1.EventTypeWarning, "SyncFailed", "%s", err.Error())
	if sim.Status.LastError.Terminal {
		logf.FromContext(ctx).Info("terminal API error; waiting for a spec change", "reason", reason, "error", err.Error())
		return ctrl.Result{}
	}
	wait := r.schedule.failed(client.ObjectKeyFromObject(sim), onomondo.RetryAfter(err))
	logf.FromContext(ctx).Info("retryable API error", "reason", reason, "retryIn", wait, "error", err.Error())
	return ctrl.Result{RequeueAfter: wait}
}

func setCondition(sim *v1alpha1.SIM, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&sim.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: sim.Generation,
	})
}

// patchStatus writes status once, and only when it changed.
func (r *SIMReconciler) patchStatus(ctx context.Context, orig, sim *v1alpha1.SIM) error {
	if equality.Semantic.DeepEqual(orig.Status, sim.Status) {
		return nil
	}
	return client.IgnoreNotFound(r.Status().Patch(ctx, sim, client.MergeFrom(orig)))
}

// event records a Kubernetes event and logs the same line (with the
// resource's namespace/name and identifiers from the context's logger).
func (r *SIMReconciler) event(ctx context.Context, sim *v1alpha1.SIM, typ, reason, format string, args ...any) {
	logf.FromContext(ctx).Info(fmt.Sprintf(format, args...), "event", reason)
	if r.Recorder != nil {
		r.Recorder.Eventf(sim, nil, typ, reason, reason, format, args...)
	}
}

func desiredSIM(sim *v1alpha1.SIM) onomondo.SIM {
	return onomondo.SIM{
		IMSI: sim.Spec.IMSI, MSISDN: sim.Spec.MSISDN,
		Voice: sim.Spec.Voice, SMS: sim.Spec.SMS, Data: sim.Spec.Data, DataThrottling: sim.Spec.DataThrottling,
	}
}

func observation(s *onomondo.SIM) *v1alpha1.SIMObservation {
	return &v1alpha1.SIMObservation{
		IMSI: s.IMSI, MSISDN: s.MSISDN, Voice: s.Voice, SMS: s.SMS, Data: s.Data, DataThrottling: s.DataThrottling,
	}
}

func toAPI(o *v1alpha1.SIMObservation) onomondo.SIM {
	if o == nil {
		return onomondo.SIM{}
	}
	return onomondo.SIM{IMSI: o.IMSI, MSISDN: o.MSISDN, Voice: o.Voice, SMS: o.SMS, Data: o.Data, DataThrottling: o.DataThrottling}
}

// matches reports whether the observed SIM has the spec's settings (and its
// MSISDN, when the spec names one).
func matches(o *v1alpha1.SIMObservation, sim *v1alpha1.SIM) bool {
	if o == nil {
		return false
	}
	s := sim.Spec
	if s.MSISDN != "" && strings.TrimPrefix(o.MSISDN, "+") != strings.TrimPrefix(s.MSISDN, "+") {
		return false
	}
	return o.Voice == s.Voice && o.SMS == s.SMS && o.Data == s.Data && o.DataThrottling == s.DataThrottling
}

func settingsOf(s onomondo.SIM) string {
	return fmt.Sprintf("voice=%t sms=%t data=%t dataThrottling=%t", s.Voice, s.SMS, s.Data, s.DataThrottling)
}

// SetupWithManager registers the controller, its index, and its watches.
// Status and finalizer writes do not trigger reconciles (generation
// predicate): the controller wakes for spec changes, deletion, its own
// timers, and the coming and going of a SIM that claims the same identifier.
func (r *SIMReconciler) SetupWithManager(mgr ctrl.Manager) error {
	o := r.Options
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
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.SIM{}, simIDIndex,
		func(obj client.Object) []string { return []string{apiIDKey(obj.(*v1alpha1.SIM))} }); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.SIM{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, deletionStarted))).
		Watches(&v1alpha1.SIM{}, handler.EnqueueRequestsFromMapFunc(r.sameIdentifier),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(o.MaxConcurrentReconciles, 1)}).
		Named("sim").
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

// sameIdentifier wakes the other SIM resources that claim the same identifier.
func (r *SIMReconciler) sameIdentifier(ctx context.Context, obj client.Object) []reconcile.Request {
	sim := obj.(*v1alpha1.SIM)
	var list v1alpha1.SIMList
	if err := r.List(ctx, &list, client.MatchingFields{simIDIndex: apiIDKey(sim)}); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, other := range list.Items {
		if other.UID != sim.UID {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: other.Namespace, Name: other.Name}})
		}
	}
	return reqs
}
