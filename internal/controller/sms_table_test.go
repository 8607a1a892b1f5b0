package controller

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

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
	}{
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
			var got v1alpha1.SMSMessage
			gone := reconcileOnce(t, r, c, tc.obj, &got, tc.gone)
			if !slices.Equal(api.calls, tc.calls) {
				t.Errorf("calls %q, want %q", api.calls, tc.calls)
			}
			if s := conditionOf(got.Status.Conditions, v1alpha1.ConditionSent); !gone && s != tc.sent {
				t.Errorf("Sent = %s, want %s", s, tc.sent)
			}
		})
	}
}
