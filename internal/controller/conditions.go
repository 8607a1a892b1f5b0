package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// Status conditions: Ready and Synced as the decision left them, and the
// kstatus progress conditions (Reconciling, Stalled) Argo CD reads.

// markDuplicate: Ready and Synced False, reason Duplicate<Kind>; no API
// call. why says who owns the object.
func (r *managedReconciler[T]) markDuplicate(obj T, why string) {
	msg := r.named(obj) + " " + why
	status(obj).ObservedGeneration = obj.GetGeneration()
	status(obj).LastError = nil
	setCondition(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, "Duplicate"+r.ext.kind(), msg)
	setCondition(obj, v1alpha1.ConditionSynced, metav1.ConditionFalse, "Duplicate"+r.ext.kind(), msg)
	setProgress(obj, progressStalled, "Duplicate"+r.ext.kind(), msg)
}

// markPaused: Synced False, reason ReconcilePaused; Ready as last known.
func (r *managedReconciler[T]) markPaused(obj T) {
	r.schedule.Park(client.ObjectKeyFromObject(obj), accountOf(obj)) // waits for a person, never overdue
	status(obj).ObservedGeneration = obj.GetGeneration()
	setCondition(obj, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonReconcilePaused,
		"paused by the annotation "+v1alpha1.AnnotationPaused+"=true: no API calls and no deletion until it is removed")
	setProgress(obj, progressDone, "", "")
}

// progress is where a resource stands for kstatus: done (neither condition),
// reconciling (retrying), or stalled (waiting for someone to act).
type progress int

const (
	progressDone progress = iota
	progressReconciling
	progressStalled
)

// setProgress sets Reconciling or Stalled True, or removes both: kstatus
// reads them as InProgress and Failed, and a present False means nothing more.
func setProgress(obj managedObject, p progress, reason, msg string) {
	conds := &status(obj).Conditions
	meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
	meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
	switch p {
	case progressReconciling:
		setCondition(obj, v1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, msg)
	case progressStalled:
		setCondition(obj, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, msg)
	}
}

// markSynced records a successful reconcile. Sets Synced True and Ready from
// whether the observation matches the spec.
func (r *managedReconciler[T]) markSynced(obj T, o Observation) {
	status(obj).ObservedGeneration = obj.GetGeneration()
	status(obj).LastError = nil
	setCondition(obj, v1alpha1.ConditionSynced, metav1.ConditionTrue, ReasonReconcileSuccess, "")
	setProgress(obj, progressDone, "", "")
	if o.UpToDate() {
		setCondition(obj, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAvailable, "the "+r.ext.kind()+" in the API matches the spec")
		return
	}
	setCondition(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonDiffers,
		"the "+r.ext.kind()+" in the API has "+o.Description)
}

// markFailed records an error in status and an event, and says when to
// retry: never for a terminal error (until the spec changes), else after a
// backoff that honours the API's Retry-After; a rejected key is also retried
// at once when the key changes. A duplicate found on the way is no failure.
// Sets Synced and Ready False.
func (r *managedReconciler[T]) markFailed(ctx context.Context, obj T, err error) ctrl.Result {
	var (
		dup     *duplicateError
		claimed *claimedError
	)
	switch {
	case errors.Is(err, errNotEarly):
		return ctrl.Result{} // an early pass the Claim could not decide: the workers' (nothing is written)
	case errors.As(err, &dup):
		r.markDuplicate(obj, fmt.Sprintf("is managed by the older resource %s/%s; this one makes no API calls",
			dup.owner.GetNamespace(), dup.owner.GetName()))
		r.schedule.Park(client.ObjectKeyFromObject(obj), accountOf(obj)) // waits for the owner, never overdue
		return ctrl.Result{}
	case errors.As(err, &claimed):
		// The holder may live where no watch of this manager reaches: look
		// again after a backoff (a read of the Claim, no API call).
		r.markDuplicate(obj, claimed.describe(obj.GetNamespace()))
		return ctrl.Result{RequeueAfter: r.schedule.Failed(client.ObjectKeyFromObject(obj), accountOf(obj), 0)}
	}
	f := classify(err)
	status(obj).ObservedGeneration = obj.GetGeneration()
	status(obj).LastError = errorStatus(err)
	setCondition(obj, v1alpha1.ConditionSynced, metav1.ConditionFalse, f.reason, err.Error())
	if !r.ext.recorded(obj).UpToDate() || f.reason == ReasonIdentityMismatch {
		setCondition(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, f.reason, err.Error())
	}
	r.event(ctx, obj, corev1.EventTypeWarning, "SyncFailed", "%s", err.Error())
	key := client.ObjectKeyFromObject(obj)
	retry := retryOf(policies(obj).ManagementPolicy, f)
	if retry == retryOnSpecChange || retry == retryNextSync || retry == retryOnRelease || f.credentials {
		setProgress(obj, progressStalled, f.reason, err.Error())
	} else {
		setProgress(obj, progressReconciling, f.reason, err.Error())
	}
	var wait time.Duration
	switch retry {
	case retryOnSpecChange:
		r.schedule.Park(key, accountOf(obj)) // not due until the spec changes: never overdue
		logf.FromContext(ctx).Info("terminal error; waiting for a spec change", "reason", f.reason)
		return ctrl.Result{}
	case retryOnRelease:
		r.schedule.Park(key, accountOf(obj)) // the other resource's change or deletion wakes it
		return ctrl.Result{}
	case retryNextSync:
		wait = r.schedule.Synced(key, accountOf(obj)) // the schedule queues the read
		logf.FromContext(ctx).Info("terminal error; reading again at the next sync period", "reason", f.reason, "retryIn", wait)
		return ctrl.Result{}
	case retryThrottled:
		// The client as a whole waits for the budget; this object is not at
		// fault, so its backoff does not grow: come back when the API said.
		wait = r.schedule.Throttled(key, accountOf(obj), f.retryAfter)
	default:
		wait = r.schedule.Failed(key, accountOf(obj), f.retryAfter)
	}
	logf.FromContext(ctx).Info("retryable error; backing off", "reason", f.reason, "retryIn", wait)
	return ctrl.Result{RequeueAfter: wait}
}

func setCondition(obj managedObject, typ string, st metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&status(obj).Conditions, metav1.Condition{
		Type: typ, Status: st, Reason: reason, Message: clip(msg), ObservedGeneration: obj.GetGeneration(),
	})
}
