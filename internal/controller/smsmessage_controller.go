package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
	"github.com/sim-operator/sim-operator/internal/schedule"
	"github.com/sim-operator/sim-operator/internal/smsledger"
)

// Reasons of the Sent condition besides the API error reasons.
const (
	ReasonSending         = "Sending"
	ReasonAccepted        = "Accepted"
	ReasonDeliveryUnknown = "DeliveryUnknown"
	// ReasonAlreadySent: an earlier object of the same message (namespace,
	// name and spec) was sent within the record's retention window.
	ReasonAlreadySent = "AlreadySent"
	// Reasons a message with a simRef waits: the SIM resource does not
	// exist, is a duplicate of another, is not bound to a SIM in the API
	// yet, is not Ready, or its bound SIM has no MSISDN (yet).
	ReasonSIMNotFound    = "SIMNotFound"
	ReasonSIMDuplicate   = "SIMDuplicate"
	ReasonSIMNotBound    = "SIMNotBound"
	ReasonSIMNotReady    = "SIMNotReady"
	ReasonSIMHasNoMSISDN = "SIMHasNoMSISDN"
)

const smsSIMRefIndex = "spec.simRef.name"

// SMSAPI is what the SMSMessage controller needs from the Onomondo client.
type SMSAPI interface {
	SendSMS(ctx context.Context, to string, m onomondo.SMS) error
}

// SMSMessageReconciler sends each SMSMessage at most once.
//
// The API has no idempotency key and no way to ask whether a message went
// out, so the promise is at most once, and never silently: before the POST a
// "Sending" marker with a fresh attempt ID is written to status with
// optimistic concurrency (a conflict means someone else may be sending: no
// send); after it, the outcome. A reconcile that finds a marker without an
// outcome (the process died, or the outcome could not be written and is not
// remembered) never sends again: it reports DeliveryUnknown, as it does for
// any failure that may have reached the API. Only the retry-delivery
// annotation, set by a person to the attempt ID, authorizes one more attempt.
type SMSMessageReconciler struct {
	client.Client
	api      SMSAPI
	recorder recorder.EventRecorder
	opts     SMSOptions
	backoff  *schedule.Schedule
	records  *smsledger.Ledger
	wake     chan event.GenericEvent
	accounts accountResolver
	// outcomes remembers results that could not be written yet, by attempt ID,
	// so that a failed status write does not turn a known outcome into DeliveryUnknown.
	outcomes sync.Map
}

// SMSOptions tune the SMSMessage controller.
type SMSOptions struct {
	// MinBackoff and MaxBackoff bound retries of sends that certainly did not reach the API.
	MinBackoff, MaxBackoff time.Duration
	// MaxConcurrentReconciles is the number of messages handled at once.
	MaxConcurrentReconciles int
	// RecordRetention is how long a sent message's record keeps a re-created
	// copy of it from being sent again (0: no records).
	RecordRetention time.Duration
	// Now is the clock for sentAt, finishedAt, the TTL and the records.
	Now func() time.Time
}

// NewSMSMessageReconciler builds the SMSMessage controller.
func NewSMSMessageReconciler(c client.Client, api SMSAPI, rec recorder.EventRecorder, o SMSOptions) *SMSMessageReconciler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	r := &SMSMessageReconciler{
		Client: c, api: api, recorder: rec, opts: o,
		backoff: schedule.New(0, 0, o.MinBackoff, max(o.MaxBackoff, o.MinBackoff)),
		wake:    make(chan event.GenericEvent),
	}
	if o.RecordRetention > 0 {
		r.records = smsledger.New(c, o.RecordRetention, o.Now)
	}
	return r
}

// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=smsmessages,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=smsmessages/status,verbs=get;update;patch
// (SMS records: see internal/smsledger)

// Reconcile: finished messages only wait for their TTL; a message with an
// unanswered marker becomes DeliveryUnknown; otherwise resolve the
// recipient, mark, send once, record.
func (r *SMSMessageReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sms := &v1alpha1.SMSMessage{}
	if err := r.Get(ctx, req.NamespacedName, sms); err != nil || !sms.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, client.IgnoreNotFound(err) // deleting a message never calls the API
	}
	ctx = logf.IntoContext(ctx, logf.FromContext(ctx).WithValues(redactValues("to", sms.Spec.To, "attempt", sms.Status.AttemptID)...))
	switch {
	case finished(sms):
		return r.expire(ctx, sms)
	case sentReason(sms) == ReasonSending:
		return ctrl.Result{}, r.resolveMarker(ctx, sms)
	case sentReason(sms) == ReasonDeliveryUnknown && !retryAuthorized(sms):
		return ctrl.Result{}, nil // a person decides
	case sms.Status.Attempts == 0:
		if prior, err := r.records.Earlier(ctx, sms); err != nil || prior != nil {
			return ctrl.Result{}, r.sentBefore(ctx, sms, prior, err)
		}
	}
	if key := req.NamespacedName; !r.backoff.Due(key) {
		return ctrl.Result{RequeueAfter: r.backoff.Remaining(key)}, nil // backing off after an unsent attempt
	}
	to, err := r.recipient(ctx, sms)
	if to == "" {
		return ctrl.Result{}, err
	}
	api := r.api // without accounts (tests): the reconciler's own client
	if r.accounts != nil {
		resolved, err := r.accounts.Resolve(ctx, sms.Namespace, sms.Spec.AccountRef)
		if err != nil {
			// Not sent: the account is refused or unusable. Wait, and try
			// again after a backoff unless only a spec change can help.
			f := classify(err)
			if werr := r.waitFor(ctx, sms, f.reason, err.Error()); werr != nil || f.terminal {
				return ctrl.Result{}, werr
			}
			return ctrl.Result{RequeueAfter: r.backoff.Failed(req.NamespacedName, "", 0)}, nil
		}
		api = resolved
	}
	if current(api) && sms.Spec.To != "" {
		// The current API sends to a SIM, by its SIM ID: a bare number is the
		// seed's edition. Nothing is sent; only a spec change helps.
		return ctrl.Result{}, r.waitFor(ctx, sms, ReasonNotInEdition,
			"spec.to belongs to the Legacy edition; this message's account speaks the Current API: name the SIM with spec.simRef")
	}
	return r.send(ctx, api, sms, to)
}

// current reports whether a client speaks the current API.
func current(api any) bool {
	c, ok := api.(interface{ Current() bool })
	return ok && c.Current()
}

// recipient is spec.to, or the bound MSISDN of the referenced SIM. While
// there is none it sets Sent=False with the reason (not terminal); the SIM
// watch wakes the message when that changes.
func (r *SMSMessageReconciler) recipient(ctx context.Context, sms *v1alpha1.SMSMessage) (string, error) {
	if sms.Spec.SIMRef == nil {
		return sms.Spec.To, nil
	}
	var sim v1alpha1.SIM
	err := r.Get(ctx, types.NamespacedName{Namespace: sms.Namespace, Name: sms.Spec.SIMRef.Name}, &sim)
	switch {
	case apierrors.IsNotFound(err):
		return "", r.waitFor(ctx, sms, ReasonSIMNotFound, "SIM "+sms.Spec.SIMRef.Name+" does not exist (yet)")
	case err != nil:
		return "", err
	}
	to, reason, msg := simRecipient(&sim)
	if to == "" {
		return "", r.waitFor(ctx, sms, reason, msg)
	}
	return to, nil
}

// simRecipient is where a message to the SIM goes: on the current API the
// SIM ID it is bound to; else the MSISDN of the SIM it is bound to, as the API reported it, and only while the
// resource is Ready and not a duplicate. Never spec.msisdn: a SIM that
// failed because another SIM holds that number must not pass it on.
// Otherwise it says why there is none.
func simRecipient(sim *v1alpha1.SIM) (to, reason, msg string) {
	ready := meta.FindStatusCondition(sim.Status.Conditions, v1alpha1.ConditionReady)
	switch {
	case ready != nil && ready.Reason == ReasonDuplicateSIM:
		return "", ReasonSIMDuplicate, "SIM " + sim.Name + " is a duplicate: " + ready.Message
	case sim.Status.Binding == nil:
		return "", ReasonSIMNotBound, "SIM " + sim.Name + " is not bound to a SIM in the API (yet)"
	case ready == nil || ready.Status != metav1.ConditionTrue:
		return "", ReasonSIMNotReady, "SIM " + sim.Name + " is not Ready (yet)"
	case sim.Status.Binding.SIMID != "":
		return sim.Status.Binding.SIMID, "", "" // the current API sends to the SIM itself
	case sim.Status.Binding.MSISDN == "":
		return "", ReasonSIMHasNoMSISDN, "the API has reported no MSISDN for SIM " + sim.Name + " (yet)"
	}
	return sim.Status.Binding.MSISDN, "", ""
}

// post is the one send: to a number (the seed's API) or to a SIM by its
// SIM ID (the current API).
func post(ctx context.Context, api SMSAPI, to string, m onomondo.SMS) error {
	if c, ok := api.(interface {
		SendSMSToSIM(context.Context, string, onomondo.SMS) error
	}); ok && current(api) {
		return c.SendSMSToSIM(ctx, to, m)
	}
	return api.SendSMS(ctx, to, m)
}

// sentBefore settles a new object of a message whose earlier object went
// out (AlreadySent, with the earlier sentAt: it never expires by TTL, so a
// GitOps self-heal does not cycle delete and re-create) or may have
// (DeliveryUnknown, with the earlier attempt ID for the retry annotation).
func (r *SMSMessageReconciler) sentBefore(ctx context.Context, sms *v1alpha1.SMSMessage, prior *v1alpha1.SMSRecordSpec, err error) error {
	if err != nil {
		return err
	}
	sms.Status.AttemptID, sms.Status.Recipient = prior.AttemptID, prior.Recipient
	if prior.State == smsledger.Sent {
		sms.Status.SentAt = prior.SentAt
		when := "an unrecorded time" // a record without its time: still sent
		if prior.SentAt != nil {
			when = prior.SentAt.UTC().Format(time.RFC3339)
		}
		setSent(sms, metav1.ConditionTrue, ReasonAlreadySent, fmt.Sprintf(
			"an earlier SMSMessage %s with this spec was sent at %s (uid %s); not sent again", sms.Name, when, prior.UID))
		r.event(ctx, sms, corev1.EventTypeNormal, ReasonAlreadySent, "not sent again: an earlier object of this message was sent")
	} else {
		msg := "an earlier SMSMessage " + sms.Name + " with this spec (uid " + string(prior.UID) + ") may have been sent; " +
			"to risk a duplicate, annotate " + v1alpha1.AnnotationRetryDelivery + "=" + prior.AttemptID
		setSent(sms, metav1.ConditionUnknown, ReasonDeliveryUnknown, msg)
		r.event(ctx, sms, corev1.EventTypeWarning, "DeliveryUnknown", "%s", msg)
	}
	return r.writeStatus(ctx, sms)
}

func (r *SMSMessageReconciler) waitFor(ctx context.Context, sms *v1alpha1.SMSMessage, reason, msg string) error {
	if cond := meta.FindStatusCondition(sms.Status.Conditions, v1alpha1.ConditionSent); cond != nil &&
		cond.Reason == reason && cond.Message == msg && sms.Status.ObservedGeneration == sms.Generation {
		return nil
	}
	setSent(sms, metav1.ConditionFalse, reason, msg)
	return r.writeStatus(ctx, sms)
}

// send writes the marker, POSTs once, and records the outcome.
func (r *SMSMessageReconciler) send(ctx context.Context, api SMSAPI, sms *v1alpha1.SMSMessage, to string) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	sms.Status.AttemptID = newAttemptID()
	sms.Status.Attempts++
	sms.Status.Recipient = to
	// The record first: a copy of this message re-created after a crash
	// past this point is never sent silently.
	if err := r.records.Write(ctx, sms, smsledger.Sending); err != nil {
		return ctrl.Result{}, err
	}
	setSent(sms, metav1.ConditionUnknown, ReasonSending, "sending attempt "+sms.Status.AttemptID)
	if err := r.writeStatus(ctx, sms); err != nil {
		if apierrors.IsConflict(err) {
			log.Info("the marker write conflicted: not sending at this attempt")
			return ctrl.Result{Requeue: true}, nil
		}
		return ctrl.Result{}, err
	}

	err := post(ctx, api, to, onomondo.SMS{From: sms.Spec.From, Text: sms.Spec.Text})
	res := r.recordOutcome(ctx, sms, err)
	r.remember(ctx, sms)
	r.outcomes.Store(sms.Status.AttemptID, sms.Status.DeepCopy())
	if werr := r.writeStatus(ctx, sms); werr != nil {
		return ctrl.Result{}, werr // the outcome is remembered; the next reconcile writes it
	}
	r.outcomes.Delete(sms.Status.AttemptID)
	return res, nil
}

// recordOutcome sets Sent from the send's result and says when to come back.
func (r *SMSMessageReconciler) recordOutcome(ctx context.Context, sms *v1alpha1.SMSMessage, err error) ctrl.Result {
	now := metav1.NewTime(r.opts.Now())
	key := client.ObjectKeyFromObject(sms)
	var f failure
	if err != nil {
		f = classify(err)
	}
	switch {
	case err == nil:
		sms.Status.SentAt, sms.Status.FinishedAt, sms.Status.LastError = &now, &now, nil
		setSent(sms, metav1.ConditionTrue, ReasonAccepted, "the API accepted the message for "+sms.Status.Recipient)
		r.event(ctx, sms, corev1.EventTypeNormal, "Sent", "sent to %s", sms.Status.Recipient)
		r.backoff.Forget(key)
		return ttlResult(sms, r.opts.Now())
	case f.terminal:
		sms.Status.FinishedAt, sms.Status.LastError = &now, errorStatus(err)
		setSent(sms, metav1.ConditionFalse, f.reason, err.Error())
		r.event(ctx, sms, corev1.EventTypeWarning, "SendFailed", "%s", err.Error())
		r.backoff.Forget(key)
		return ttlResult(sms, r.opts.Now())
	case f.notApplied:
		sms.Status.LastError = errorStatus(err)
		setSent(sms, metav1.ConditionFalse, f.reason, "not sent, will retry: "+err.Error())
		return ctrl.Result{RequeueAfter: r.backoff.Failed(key, "", f.retryAfter)}
	default:
		sms.Status.LastError = errorStatus(err)
		setSent(sms, metav1.ConditionUnknown, ReasonDeliveryUnknown,
			"the send may or may not have reached the recipient ("+err.Error()+"); to risk a duplicate, annotate "+
				v1alpha1.AnnotationRetryDelivery+"="+sms.Status.AttemptID)
		r.event(ctx, sms, corev1.EventTypeWarning, "DeliveryUnknown", "%s", err.Error())
		return ctrl.Result{}
	}
}

// remember updates the record with the outcome: sent or maybe sent is kept;
// a message that certainly did not go out is forgotten. A failed update
// leaves the record at Sending: a re-created copy is then DeliveryUnknown,
// never sent silently.
func (r *SMSMessageReconciler) remember(ctx context.Context, sms *v1alpha1.SMSMessage) {
	var err error
	switch sentReason(sms) {
	case ReasonAccepted:
		err = r.records.Write(ctx, sms, smsledger.Sent)
	case ReasonDeliveryUnknown:
		err = r.records.Write(ctx, sms, smsledger.Unknown)
	default:
		err = r.records.Forget(ctx, sms)
	}
	if err != nil {
		logf.FromContext(ctx).Error(err, "updating the SMS record")
	}
}

// resolveMarker handles a marker without an outcome: write the remembered
// outcome if this process has one, else declare the delivery unknown.
func (r *SMSMessageReconciler) resolveMarker(ctx context.Context, sms *v1alpha1.SMSMessage) error {
	if v, ok := r.outcomes.Load(sms.Status.AttemptID); ok {
		sms.Status = *v.(*v1alpha1.SMSMessageStatus).DeepCopy()
	} else {
		msg := "attempt " + sms.Status.AttemptID + " was interrupted after it was marked; it may have been sent. " +
			"To risk a duplicate, annotate " + v1alpha1.AnnotationRetryDelivery + "=" + sms.Status.AttemptID
		setSent(sms, metav1.ConditionUnknown, ReasonDeliveryUnknown, msg)
		r.event(ctx, sms, corev1.EventTypeWarning, "DeliveryUnknown", "%s", msg)
	}
	err := r.writeStatus(ctx, sms)
	if err == nil {
		r.outcomes.Delete(sms.Status.AttemptID)
	}
	return err
}

// expire deletes a finished message once its TTL has passed.
func (r *SMSMessageReconciler) expire(ctx context.Context, sms *v1alpha1.SMSMessage) (ctrl.Result, error) {
	res := ttlResult(sms, r.opts.Now())
	if sms.Spec.TTLSecondsAfterFinished == nil || sms.Status.FinishedAt == nil || res.RequeueAfter > 0 {
		return res, nil
	}
	err := r.Delete(ctx, sms, client.Preconditions{UID: &sms.UID})
	return ctrl.Result{}, client.IgnoreNotFound(err)
}

func ttlResult(sms *v1alpha1.SMSMessage, now time.Time) ctrl.Result {
	if sms.Spec.TTLSecondsAfterFinished == nil || sms.Status.FinishedAt == nil || sentReason(sms) == ReasonAlreadySent {
		return ctrl.Result{}
	}
	// finishedAt is stored with one-second precision: the message finished up
	// to a second after it, so count from the end of that second.
	deadline := sms.Status.FinishedAt.Add(time.Duration(*sms.Spec.TTLSecondsAfterFinished)*time.Second + time.Second)
	if d := deadline.Sub(now); d > 0 {
		return ctrl.Result{RequeueAfter: d}
	}
	return ctrl.Result{}
}

// finished: accepted, refused for good, or already sent by an earlier
// object. DeliveryUnknown is not finished: it waits for a person, and its
// TTL does not run.
func finished(sms *v1alpha1.SMSMessage) bool {
	return sms.Status.FinishedAt != nil || sentReason(sms) == ReasonAlreadySent ||
		meta.IsStatusConditionTrue(sms.Status.Conditions, v1alpha1.ConditionSent) // accepted, whatever else status lacks
}

func sentReason(sms *v1alpha1.SMSMessage) string {
	if c := meta.FindStatusCondition(sms.Status.Conditions, v1alpha1.ConditionSent); c != nil {
		return c.Reason
	}
	return ""
}

func retryAuthorized(sms *v1alpha1.SMSMessage) bool {
	return sms.Status.AttemptID != "" && sms.Annotations[v1alpha1.AnnotationRetryDelivery] == sms.Status.AttemptID
}

func setSent(sms *v1alpha1.SMSMessage, status metav1.ConditionStatus, reason, msg string) {
	sms.Status.ObservedGeneration = sms.Generation
	meta.SetStatusCondition(&sms.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionSent, Status: status, Reason: reason, Message: clip(msg), ObservedGeneration: sms.Generation,
	})
}

// writeStatus is where a message's status is written: locked to the
// resourceVersion the decision was made on (see statusWriter).
func (r *SMSMessageReconciler) writeStatus(ctx context.Context, sms *v1alpha1.SMSMessage) error {
	return statusWriter{r.Client}.locked(ctx, sms)
}

// event records a Kubernetes event about the message and logs the same line.
func (r *SMSMessageReconciler) event(ctx context.Context, sms *v1alpha1.SMSMessage, typ, reason, format string, args ...any) {
	recordEvent(ctx, r.recorder, sms, typ, reason, format, args...)
}

func newAttemptID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// UseAccounts sends each message through its account's client.
func (r *SMSMessageReconciler) UseAccounts(a *Accounts) { r.accounts = a }

// RetryCredentials retries at once, without their backoff, the messages not
// sent because the API refused the key.
func (r *SMSMessageReconciler) RetryCredentials(ctx context.Context) {
	var list v1alpha1.SMSMessageList
	if err := r.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		logf.FromContext(ctx).Error(err, "listing messages to retry after a key change")
		return
	}
	var due []client.Object
	for i := range list.Items {
		if m := &list.Items[i]; credentialsReason(sentReason(m)) {
			r.backoff.Forget(client.ObjectKeyFromObject(m))
			due = append(due, m)
		}
	}
	go wakeAll(ctx, r.wake, due)
}
