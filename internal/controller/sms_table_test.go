package controller

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
	"github.com/sim-operator/sim-operator/internal/smsledger"
)

// The SMSMessage's decision table, on a recording fake API: at most one
// POST per message, never silently; the recipient from spec.to or from the
// bound SIM; a send that may have reached the API is never repeated
// without a person's word.

type fakeSMSAPI struct {
	fail    error
	current bool
	calls   []string
}

func (f *fakeSMSAPI) Current() bool { return f.current }

func (f *fakeSMSAPI) SendSMSToSIM(_ context.Context, simID string, _ onomondo.SMS) error {
	f.calls = append(f.calls, "POST /sms/"+simID)
	return f.fail
}

func (f *fakeSMSAPI) SendSMS(_ context.Context, to string, _ onomondo.SMS) error {
	f.calls = append(f.calls, "POST "+to)
	return f.fail
}

func smsObj(change func(*v1alpha1.SMSMessage)) *v1alpha1.SMSMessage {
	m := &v1alpha1.SMSMessage{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello", UID: types.UID("uid-hello"), Generation: 1,
		CreationTimestamp: created}, Spec: v1alpha1.SMSMessageSpec{To: "4512345678", From: "fleet", Text: "hi"}}
	if change != nil {
		change(m)
	}
	return m
}

func TestSMSMessageDecisionTable(t *testing.T) {
	toSIM := func(m *v1alpha1.SMSMessage) { m.Spec.To, m.Spec.SIMRef = "", &v1alpha1.LocalSIMReference{Name: "s"} }
	boundSIM := simObj("s", byIMSI(imsiA, true), bound(imsiA, "4587654321", true), func(s *v1alpha1.SIM) {
		setCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAvailable, "")
	})
	earlier := func(state string) *v1alpha1.SMSRecord {
		m := smsObj(nil)
		return &v1alpha1.SMSRecord{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: smsledger.RecordName(m)},
			Spec: v1alpha1.SMSRecordSpec{Message: m.Name, SpecHash: smsledger.SpecHash(m), UID: "uid-earlier", State: state,
				AttemptID: "a0", RecordedAt: metav1.NewTime(time.Now())}}
	}
	finishedAgo := func(d time.Duration, ttl int32) func(*v1alpha1.SMSMessage) {
		return func(m *v1alpha1.SMSMessage) {
			at := metav1.NewTime(time.Now().Add(-d))
			m.Spec.TTLSecondsAfterFinished, m.Status.FinishedAt, m.Status.Attempts = &ttl, &at, 1
			setSent(m, metav1.ConditionTrue, ReasonAccepted, "accepted")
		}
	}
	simIn := func(changes ...func(*v1alpha1.SIM)) *v1alpha1.SIM {
		return simObj("s", byIMSI(imsiA, true), append([]func(*v1alpha1.SIM){bound(imsiA, "4587654321", true)}, changes...)...)
	}
	unavailable := apierrors.NewServiceUnavailable("apiserver restarting")
	getFails := func(kind client.Object) interceptor.Funcs {
		return interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, o ...client.GetOption) error {
			if reflect.TypeOf(obj) == reflect.TypeOf(kind) {
				return unavailable
			}
			return c.Get(ctx, key, obj, o...)
		}}
	}
	statusWrites := 0
	countStatusWrites := interceptor.Funcs{SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, o ...client.SubResourceUpdateOption) error {
		statusWrites++
		return c.SubResource(sub).Update(ctx, obj, o...)
	}}
	for _, tc := range []struct {
		name      string
		obj       *v1alpha1.SMSMessage
		others    []client.Object
		fail      error
		current   bool
		accounts  accountResolver
		intercept interceptor.Funcs
		calls     []string
		sent      string
		gone      bool
		wantErr   bool
		// writes, when set, is how many status writes the reconcile makes.
		writes *int
	}{
		{name: "a SIM that cannot be read: the error is returned, with no call", obj: smsObj(toSIM), others: []client.Object{boundSIM},
			intercept: getFails(&v1alpha1.SIM{}), wantErr: true},
		{name: "an earlier object's record that cannot be read: the error is returned, with no call", obj: smsObj(nil),
			intercept: getFails(&v1alpha1.SMSRecord{}), wantErr: true},
		{name: "a record that cannot be written before the send: nothing is sent", obj: smsObj(nil),
			intercept: interceptor.Funcs{Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error {
				return unavailable
			}},
			wantErr: true},
		{name: "a marker write that fails sends nothing", obj: smsObj(nil),
			intercept: interceptor.Funcs{SubResourceUpdate: func(context.Context, client.Client, string, client.Object, ...client.SubResourceUpdateOption) error {
				return unavailable
			}}, wantErr: true},
		{name: "an account that does not resolve for now: Sent=False with its reason, retried after a backoff, with no call", obj: smsObj(nil),
			accounts: fakeAccounts{err: &accountError{Reason: ReasonCredentialsMissing, Msg: "no key yet"}},
			sent:     "False/" + ReasonCredentialsMissing},
		{name: "a message still waiting for the same reason writes nothing", obj: smsObj(func(m *v1alpha1.SMSMessage) {
			toSIM(m)
			setSent(m, metav1.ConditionFalse, ReasonSIMNotFound, "SIM s does not exist (yet)")
		}), intercept: countStatusWrites, writes: &statusWrites, sent: "False/" + ReasonSIMNotFound},
		{name: "a message to a SIM that is not Ready waits, with no call", obj: smsObj(toSIM), others: []client.Object{simIn()},
			sent: "False/" + ReasonSIMNotReady},
		{name: "a message to a duplicate SIM waits, with no call", obj: smsObj(toSIM), others: []client.Object{simIn(func(s *v1alpha1.SIM) {
			setCondition(s, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonDuplicateSIM, "older one")
		})}, sent: "False/" + ReasonSIMDuplicate},
		{name: "a message to a SIM the API reported no number for waits, with no call", obj: smsObj(toSIM), others: []client.Object{
			simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), func(s *v1alpha1.SIM) {
				setCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAvailable, "")
			})}, sent: "False/" + ReasonSIMHasNoMSISDN},
		{name: "an account the namespace may not use: refused, with no call", obj: smsObj(nil),
			accounts: fakeAccounts{err: &accountError{Reason: ReasonAccountNotAllowed, Terminal: true, Msg: "no"}},
			sent:     "False/" + ReasonAccountNotAllowed},
		{name: "a marker write that conflicts sends nothing: someone else may be sending", obj: smsObj(nil),
			intercept: interceptor.Funcs{SubResourceUpdate: func(context.Context, client.Client, string, client.Object, ...client.SubResourceUpdateOption) error {
				return apierrors.NewConflict(schema.GroupResource{Resource: "smsmessages"}, "hello", errors.New("changed"))
			}}},
		{name: "a message an earlier object of sent is AlreadySent, with no call (even from a record without its time)", obj: smsObj(nil), others: []client.Object{earlier(smsledger.Sent)},
			sent: "True/" + ReasonAlreadySent},
		{name: "a message an earlier object may have sent is DeliveryUnknown, with no call", obj: smsObj(nil), others: []client.Object{earlier(smsledger.Sending)},
			sent: "Unknown/" + ReasonDeliveryUnknown},
		{name: "DeliveryUnknown with the retry annotation naming its attempt: one more POST", obj: smsObj(func(m *v1alpha1.SMSMessage) {
			m.Status.AttemptID, m.Status.Attempts = "a1", 1
			m.Annotations = map[string]string{v1alpha1.AnnotationRetryDelivery: "a1"}
			setSent(m, metav1.ConditionUnknown, ReasonDeliveryUnknown, "unknown")
		}), calls: []string{"POST 4512345678"}, sent: "True/" + ReasonAccepted},
		{name: "DeliveryUnknown with a retry annotation naming another attempt: no call", obj: smsObj(func(m *v1alpha1.SMSMessage) {
			m.Status.AttemptID, m.Status.Attempts = "a1", 1
			m.Annotations = map[string]string{v1alpha1.AnnotationRetryDelivery: "a0"}
			setSent(m, metav1.ConditionUnknown, ReasonDeliveryUnknown, "unknown")
		}), sent: "Unknown/" + ReasonDeliveryUnknown},
		{name: "a finished message past its TTL is deleted, with no call", obj: smsObj(finishedAgo(time.Hour, 60)), gone: true},
		{name: "a finished message within its TTL waits", obj: smsObj(finishedAgo(time.Second, 3600)), sent: "True/" + ReasonAccepted},
		{name: "a send the API refused is Sent=False with its code, and never repeated", obj: smsObj(nil),
			fail: &onomondo.APIError{StatusCode: 400, Code: "invalid_msisdn", Message: "bad number"}, calls: []string{"POST 4512345678"},
			sent: "False/InvalidMsisdn"},
		{name: "on the current API a message to a SIM goes to its SIM ID", obj: smsObj(toSIM), current: true,
			others: []client.Object{simObj("s", v1alpha1.SIMSpec{SIMID: "000000001"}, func(s *v1alpha1.SIM) {
				s.Status.Binding = &v1alpha1.SIMBinding{SIMID: "000000001"}
				setCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAvailable, "")
			})}, calls: []string{"POST /sms/000000001"}, sent: "True/" + ReasonAccepted},
		{name: "on the current API a bare number is NotInEdition, with no call", obj: smsObj(nil), current: true,
			sent: "False/" + ReasonNotInEdition},
		{name: "a message to a number is sent with one POST", obj: smsObj(nil),
			calls: []string{"POST 4512345678"}, sent: "True/" + ReasonAccepted},
		{name: "a message to a bound, Ready SIM goes to its MSISDN as the API reported it", obj: smsObj(toSIM), others: []client.Object{boundSIM},
			calls: []string{"POST 4587654321"}, sent: "True/" + ReasonAccepted},
		{name: "a message to a SIM that does not exist waits, with no call", obj: smsObj(toSIM),
			sent: "False/" + ReasonSIMNotFound},
		{name: "a message to a SIM not bound yet waits, with no call", obj: smsObj(toSIM), others: []client.Object{simObj("s", byIMSI(imsiA, true))},
			sent: "False/" + ReasonSIMNotBound},
		{name: "a send that may have reached the API is DeliveryUnknown, never repeated", obj: smsObj(nil),
			fail: &onomondo.TransportError{Err: errors.New("connection reset"), Written: true}, calls: []string{"POST 4512345678"},
			sent: "Unknown/" + ReasonDeliveryUnknown},
		{name: "an unanswered marker from an earlier attempt is DeliveryUnknown, with no call", obj: smsObj(func(m *v1alpha1.SMSMessage) {
			m.Status.AttemptID, m.Status.Attempts = "a1", 1
			setSent(m, metav1.ConditionUnknown, ReasonSending, "sending")
		}), sent: "Unknown/" + ReasonDeliveryUnknown},
		{name: "an accepted message is never sent again, even with no finishedAt in status", obj: smsObj(func(m *v1alpha1.SMSMessage) {
			m.Status.AttemptID, m.Status.Attempts = "a1", 1
			setSent(m, metav1.ConditionTrue, ReasonAccepted, "accepted")
		}), sent: "True/" + ReasonAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeSMSAPI{fail: tc.fail, current: tc.current}
			c := fakeClient(tc.intercept, append([]client.Object{tc.obj}, tc.others...)...)
			r := NewSMSMessageReconciler(c, api, &fakeRecorder{}, SMSOptions{MinBackoff: time.Millisecond, MaxBackoff: time.Second,
				RecordRetention: time.Hour})
			r.accounts = tc.accounts
			statusWrites = 0
			var got v1alpha1.SMSMessage
			_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(tc.obj)})
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want one: %t", err, tc.wantErr)
			}
			gone := apierrors.IsNotFound(c.Get(context.Background(), client.ObjectKeyFromObject(tc.obj), &got))
			if gone != tc.gone {
				t.Fatalf("gone = %t, want %t", gone, tc.gone)
			}
			if tc.writes != nil && *tc.writes != 0 {
				t.Errorf("%d status writes, want none", *tc.writes)
			}
			if !slices.Equal(api.calls, tc.calls) {
				t.Errorf("calls %q, want %q", api.calls, tc.calls)
			}
			if s := conditionOf(got.Status.Conditions, v1alpha1.ConditionSent); !gone && !tc.wantErr && s != tc.sent {
				t.Errorf("Sent = %s, want %s", s, tc.sent)
			}
		})
	}
}

// Across reconciles: what one attempt leaves decides the next.
func TestSMSMessageAcrossReconciles(t *testing.T) {
	reconcile := func(t *testing.T, r *SMSMessageReconciler, m *v1alpha1.SMSMessage) (ctrl.Result, error) {
		t.Helper()
		return r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(m)})
	}
	newReconciler := func(c client.Client, api SMSAPI) *SMSMessageReconciler {
		return NewSMSMessageReconciler(c, api, &fakeRecorder{}, SMSOptions{MinBackoff: time.Minute, MaxBackoff: time.Hour, RecordRetention: time.Hour})
	}
	sent := func(t *testing.T, c client.Client, m *v1alpha1.SMSMessage) string {
		t.Helper()
		var got v1alpha1.SMSMessage
		if err := c.Get(context.Background(), client.ObjectKeyFromObject(m), &got); err != nil {
			t.Fatal(err)
		}
		return conditionOf(got.Status.Conditions, v1alpha1.ConditionSent)
	}

	t.Run("a send the API did not apply is retried after a backoff, not at once", func(t *testing.T) {
		m := smsObj(nil)
		c := fakeClient(interceptor.Funcs{}, m)
		api := &fakeSMSAPI{fail: &onomondo.APIError{StatusCode: 429, Code: "rate_limited", Message: "slow down"}}
		r := newReconciler(c, api)
		res, err := reconcile(t, r, m)
		if err != nil || res.RequeueAfter <= 0 || sent(t, c, m) != "False/RateLimited" {
			t.Fatalf("first attempt: %v %v, Sent %s; want a backoff and Sent=False/RateLimited", res, err, sent(t, c, m))
		}
		res, err = reconcile(t, r, m)
		if err != nil || res.RequeueAfter <= 0 || len(api.calls) != 1 {
			t.Errorf("at once again: %v %v, calls %q; want no call before the backoff ends", res, err, api.calls)
		}
	})

	t.Run("an outcome whose status write failed is written from memory, not declared unknown", func(t *testing.T) {
		m := smsObj(nil)
		writes := 0
		c := fakeClient(interceptor.Funcs{SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, o ...client.SubResourceUpdateOption) error {
			if writes++; writes == 2 { // the outcome, after the marker
				return apierrors.NewServiceUnavailable("apiserver restarting")
			}
			return c.SubResource(sub).Update(ctx, obj, o...)
		}}, m)
		api := &fakeSMSAPI{}
		r := newReconciler(c, api)
		if _, err := reconcile(t, r, m); err == nil {
			t.Fatal("the outcome's failed write is no error")
		}
		if s := sent(t, c, m); s != "Unknown/"+ReasonSending {
			t.Fatalf("after the failed write Sent = %s, want the marker", s)
		}
		if _, err := reconcile(t, r, m); err != nil {
			t.Fatal(err)
		}
		if s := sent(t, c, m); s != "True/"+ReasonAccepted || len(api.calls) != 1 {
			t.Errorf("Sent = %s, calls %q; want Accepted from memory and one POST", s, api.calls)
		}
	})

	t.Run("an outcome whose record cannot be updated still stands; the record stays at Sending", func(t *testing.T) {
		m := smsObj(nil)
		c := fakeClient(interceptor.Funcs{Update: func(context.Context, client.WithWatch, client.Object, ...client.UpdateOption) error {
			return apierrors.NewServiceUnavailable("apiserver restarting")
		}}, m)
		api := &fakeSMSAPI{}
		if _, err := reconcile(t, newReconciler(c, api), m); err != nil {
			t.Fatal(err)
		}
		var rec v1alpha1.SMSRecord
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: smsledger.RecordName(m)}, &rec); err != nil {
			t.Fatal(err)
		}
		if s := sent(t, c, m); s != "True/"+ReasonAccepted || rec.Spec.State != smsledger.Sending {
			t.Errorf("Sent = %s, record %s; want Accepted, and the record at Sending (a copy is never sent silently)", s, rec.Spec.State)
		}
	})
}

// The SMSMessage's watches: which SIM events wake which messages.
func TestSMSMessageWakesOnlyForWhatItWaitsFor(t *testing.T) {
	sim := simObj("s", byIMSI(imsiA, true), bound(imsiA, "4587654321", true), func(s *v1alpha1.SIM) {
		setCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAvailable, "")
	})
	t.Run("a SIM event passes only when the message's recipient (or why there is none) changed", func(t *testing.T) {
		finalizer := sim.DeepCopy()
		finalizer.Finalizers = []string{Finalizer}
		number := sim.DeepCopy()
		number.Status.Binding.MSISDN = "4500000000"
		for _, tc := range []struct {
			name     string
			old, cur client.Object
			pass     bool
		}{
			{"a finalizer added", sim, finalizer, false},
			{"the bound number changed", sim, number, true},
			{"not a SIM", smsObj(nil), smsObj(nil), true},
		} {
			if got := recipientChanged.Update(event.UpdateEvent{ObjectOld: tc.old, ObjectNew: tc.cur}); got != tc.pass {
				t.Errorf("%s: passes %t, want %t", tc.name, got, tc.pass)
			}
		}
		if recipientChanged.Create(event.CreateEvent{Object: sim, IsInInitialList: true}) || !recipientChanged.Create(event.CreateEvent{Object: sim}) {
			t.Error("a SIM of a starting process's initial list wakes no message (each is queued anyway); a new SIM does")
		}
	})
	t.Run("a SIM wakes the unfinished messages that name it", func(t *testing.T) {
		named := func(name, simName string, done bool) *v1alpha1.SMSMessage {
			return smsObj(func(m *v1alpha1.SMSMessage) {
				m.Name, m.UID, m.Spec.To, m.Spec.SIMRef = name, types.UID("uid-"+name), "", &v1alpha1.LocalSIMReference{Name: simName}
				if done {
					setSent(m, metav1.ConditionTrue, ReasonAccepted, "accepted")
				}
			})
		}
		c := fakeClient(interceptor.Funcs{}, named("waits", "s", false), named("done", "s", true), named("other", "t", false))
		r := NewSMSMessageReconciler(c, &fakeSMSAPI{}, &fakeRecorder{}, SMSOptions{})
		got := r.waitingOn(context.Background(), sim)
		if len(got) != 1 || got[0].Name != "waits" {
			t.Errorf("woken %v, want only ns/waits", got)
		}
	})
	t.Run("a new key retries at once the messages the API refused the old one for", func(t *testing.T) {
		refused := smsObj(func(m *v1alpha1.SMSMessage) { setSent(m, metav1.ConditionFalse, ReasonCredentialsRejected, "401") })
		waiting := smsObj(func(m *v1alpha1.SMSMessage) {
			m.Name, m.UID = "waiting", "uid-waiting"
			setSent(m, metav1.ConditionFalse, ReasonSIMNotFound, "no SIM")
		})
		c := fakeClient(interceptor.Funcs{}, refused, waiting)
		r := NewSMSMessageReconciler(c, &fakeSMSAPI{}, &fakeRecorder{}, SMSOptions{})
		r.backoff.Failed(client.ObjectKeyFromObject(refused), "", 0)
		r.RetryCredentials(context.Background())
		select {
		case e := <-r.wake:
			if e.Object.GetName() != refused.Name || !r.backoff.Due(client.ObjectKeyFromObject(refused)) {
				t.Errorf("woke %s (due: %t), want %s with its backoff forgotten", e.Object.GetName(), r.backoff.Due(client.ObjectKeyFromObject(refused)), refused.Name)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("nothing woken")
		}
	})
}
