package controller

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// The SMSMessage's decision table, on a recording fake API: at most one
// POST per message, never silently; the recipient from spec.to or from the
// bound SIM; a send that may have reached the API is never repeated
// without a person's word.

type fakeSMSAPI struct {
	fail  error
	calls []string
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
	for _, tc := range []struct {
		name   string
		obj    *v1alpha1.SMSMessage
		others []client.Object
		fail   error
		calls  []string
		sent   string
	}{
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
			api := &fakeSMSAPI{fail: tc.fail}
			c := fakeClient(interceptor.Funcs{}, append([]client.Object{tc.obj}, tc.others...)...)
			r := NewSMSMessageReconciler(c, api, &fakeRecorder{}, SMSOptions{MinBackoff: time.Millisecond, MaxBackoff: time.Second})
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(tc.obj)}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(api.calls, tc.calls) {
				t.Errorf("calls %q, want %q", api.calls, tc.calls)
			}
			var got v1alpha1.SMSMessage
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(tc.obj), &got); err != nil {
				t.Fatal(err)
			}
			if s := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionSent); s == nil || string(s.Status)+"/"+s.Reason != tc.sent {
				t.Errorf("Sent = %v, want %s", s, tc.sent)
			}
		})
	}
}
