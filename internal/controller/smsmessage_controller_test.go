package controller_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/onomondo"
	"github.com/sim-operator/sim-operator/internal/simulator"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

// nsRestart has a manager of its own that the restart spec stops and starts.
const nsRestart = "sms-restart"

var smsSeq int

// newSMS is a message to a fresh number; its text names it, so the
// simulator's log can be matched to it.
func newSMS(ns, name string) *v1alpha1.SMSMessage {
	smsSeq++
	return &v1alpha1.SMSMessage{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.SMSMessageSpec{
			To: fmt.Sprintf("+4560%06d", smsSeq), From: "Fleet", Text: "hello from " + ns + "/" + name,
		},
	}
}

// accepted counts the SMS the simulator accepted with this text.
func accepted(text string) int {
	n := 0
	for _, m := range sim.SMS() {
		if m.Text == text {
			n++
		}
	}
	return n
}

func sentCondition(m *v1alpha1.SMSMessage) *metav1.Condition {
	return meta.FindStatusCondition(m.Status.Conditions, v1alpha1.ConditionSent)
}

func waitForSent(m *v1alpha1.SMSMessage, status metav1.ConditionStatus, reason string) {
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(m), m)).To(Succeed())
		c := sentCondition(m)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(status), c.Message)
		g.Expect(c.Reason).To(Equal(reason), c.Message)
	}, 20*time.Second, 20*time.Millisecond).Should(Succeed())
}

var _ = Describe("SMSMessage controller", func() {
	AfterEach(func() { sim.SetFaults(simulator.Faults{}) })

	It("sends one message exactly once and says so", func() {
		m := newSMS(nsSMS, "once")
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		waitForSent(m, metav1.ConditionTrue, controller.ReasonAccepted)
		Expect(m.Status.SentAt).NotTo(BeNil())
		Expect(m.Status.Recipient).To(Equal(m.Spec.To))
		Expect(m.Status.Attempts).To(BeEquivalentTo(1))
		eventuallyEvents(m, "Sent")
		Consistently(func() int { return accepted(m.Spec.Text) }, 500*time.Millisecond).Should(Equal(1))
	})

	It("reports a dropped response as DeliveryUnknown, never retries it, and sends once more when a person authorizes it", func() {
		m := newSMS(nsSMS, "dropped")
		sim.SetFaults(simulator.Faults{Only: "/sms/" + m.Spec.To, DropNext: 1})
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		waitForSent(m, metav1.ConditionUnknown, controller.ReasonDeliveryUnknown)
		Expect(sentCondition(m).Message).To(ContainSubstring(v1alpha1.AnnotationRetryDelivery + "=" + m.Status.AttemptID))
		eventuallyEvents(m, "DeliveryUnknown")
		Consistently(func() int { return accepted(m.Spec.Text) }, 700*time.Millisecond).Should(Equal(1))

		By("an annotation naming another attempt changes nothing")
		annotate(m, "not-the-attempt")
		Consistently(func() int { return accepted(m.Spec.Text) }, 500*time.Millisecond).Should(Equal(1))

		By("the annotation naming this attempt allows exactly one more")
		annotate(m, m.Status.AttemptID)
		waitForSent(m, metav1.ConditionTrue, controller.ReasonAccepted)
		Expect(m.Status.Attempts).To(BeEquivalentTo(2))
		Consistently(func() int { return accepted(m.Spec.Text) }, 500*time.Millisecond).Should(Equal(2))
	})

	It("retries a 429 until the API accepts, sending exactly once", func() {
		m := newSMS(nsSMS, "throttled")
		sim.SetFaults(simulator.Faults{Only: "/sms/" + m.Spec.To, TooManyNext: 2, RetryAfterSeconds: 0})
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		waitForSent(m, metav1.ConditionTrue, controller.ReasonAccepted)
		Expect(verbs(calls(m.Spec.To))).To(Equal([]string{"POST 429", "POST 429", "POST 200"}))
		Expect(accepted(m.Spec.Text)).To(Equal(1))
	})

	DescribeTable("fails for good on the API's refusals, naming the code",
		func(code, reason string) {
			m := newSMS(nsSMS, "refused-"+strings.ReplaceAll(code, "_", "-"))
			sim.SetFaults(simulator.Faults{Only: "/sms/" + m.Spec.To, FailNext: 1, FailStatus: 400, FailCode: code})
			Expect(k8sClient.Create(ctx, m)).To(Succeed())
			waitForSent(m, metav1.ConditionFalse, reason)
			Expect(m.Status.LastError).To(HaveField("Code", code))
			Expect(m.Status.LastError.Terminal).To(BeTrue())
			eventuallyEvents(m, "SendFailed")
			Consistently(func() int { return len(calls(m.Spec.To)) }, 500*time.Millisecond).Should(Equal(1))
		},
		Entry("to_invalid", "to_invalid", "ToInvalid"),
		Entry("from_invalid", "from_invalid", "FromInvalid"),
		Entry("text_invalid", "text_invalid", "TextInvalid"),
	)

	It("waits for a referenced SIM and its MSISDN, then sends once to it", func() {
		m := &v1alpha1.SMSMessage{
			ObjectMeta: metav1.ObjectMeta{Namespace: nsSMS, Name: "to-sim"},
			Spec: v1alpha1.SMSMessageSpec{SIMRef: &v1alpha1.LocalSIMReference{Name: "later"},
				From: "Fleet", Text: "hello SIM later"},
		}
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		waitForSent(m, metav1.ConditionFalse, controller.ReasonSIMNotFound)

		By("a SIM without an MSISDN")
		s := newSIM(nsSMS, "later", newIMSI())
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForSent(m, metav1.ConditionFalse, controller.ReasonSIMHasNoMSISDN)

		By("giving it an MSISDN")
		Expect(update(s, func(s *v1alpha1.SIM) { s.Spec.MSISDN = "4561" + s.Spec.IMSI[9:] })).To(Succeed())
		waitForSent(m, metav1.ConditionTrue, controller.ReasonAccepted)
		Expect(m.Status.Recipient).To(Equal("4561" + s.Spec.IMSI[9:]))
		Expect(accepted("hello SIM later")).To(Equal(1))
	})

	It("deletes a finished message after ttlSecondsAfterFinished, without calling the API", func() {
		m := newSMS(nsSMS, "ttl")
		m.Spec.TTLSecondsAfterFinished = ptr.To[int32](1)
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		// The message may come and go between two polls on a loaded machine,
		// so the spec reads the outcome from the API's log and the clock.
		Eventually(func() bool { return isGone(m) }, 20*time.Second, 20*time.Millisecond).Should(BeTrue())
		goneAt := time.Now()
		Expect(verbs(calls(m.Spec.To))).To(Equal([]string{"POST 200"}))
		Expect(accepted(m.Spec.Text)).To(Equal(1))
		sentAt := calls(m.Spec.To)[0].Time
		Expect(goneAt.Sub(sentAt)).To(BeNumerically(">=", time.Second), "deleted before its TTL ran out")
	})

	It("keeps the spec immutable and tells to create a new message", func() {
		m := newSMS(nsSMS, "immutable")
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		waitForSent(m, metav1.ConditionTrue, controller.ReasonAccepted)
		base := m.DeepCopy()
		m.Spec.Text = "changed"
		Expect(k8sClient.Patch(ctx, m, client.MergeFrom(base))).
			To(MatchError(ContainSubstring("create a new SMSMessage")))
	})

	DescribeTable("rejects an invalid message at admission, naming the field",
		func(spec map[string]any, field string) {
			err := k8sClient.Create(ctx, object("SMSMessage", "invalid", spec))
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(field))
		},
		Entry("no recipient", map[string]any{"from": "A", "text": "x"}, "spec.to and spec.simRef"),
		Entry("both recipients", map[string]any{"to": "4512345678", "simRef": map[string]any{"name": "s"}, "from": "A", "text": "x"}, "spec.to and spec.simRef"),
		Entry("to with letters", map[string]any{"to": "45abc", "from": "A", "text": "x"}, "spec.to"),
		Entry("to too long", map[string]any{"to": "+4512345678901234", "from": "A", "text": "x"}, "spec.to"),
		Entry("from missing", map[string]any{"to": "4512345678", "text": "x"}, "spec.from"),
		Entry("from too long", map[string]any{"to": "4512345678", "from": "TwelveLetter", "text": "x"}, "spec.from"),
		Entry("from with a space", map[string]any{"to": "4512345678", "from": "A B", "text": "x"}, "spec.from"),
		Entry("text missing", map[string]any{"to": "4512345678", "from": "A"}, "spec.text"),
		Entry("text empty", map[string]any{"to": "4512345678", "from": "A", "text": ""}, "spec.text"),
		Entry("text too long", map[string]any{"to": "4512345678", "from": "A", "text": strings.Repeat("x", 1601)}, "spec.text"),
		Entry("simRef without a name", map[string]any{"simRef": map[string]any{}, "from": "A", "text": "x"}, "spec.simRef.name"),
		Entry("negative TTL", map[string]any{"to": "4512345678", "from": "A", "text": "x", "ttlSecondsAfterFinished": -1}, "spec.ttlSecondsAfterFinished"),
	)
})

// swappableSMSAPI lets a test replace the API under a running reconciler.
type swappableSMSAPI struct{ controller.SMSAPI }

func annotate(m *v1alpha1.SMSMessage, attempt string) {
	base := m.DeepCopy()
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[v1alpha1.AnnotationRetryDelivery] = attempt
	Expect(k8sClient.Patch(ctx, m, client.MergeFrom(base))).To(Succeed())
}

// Specs that call a reconciler directly, in a namespace no manager watches.
var _ = Describe("SMSMessage sending protocol", func() {
	reconcileOnce := func(r *controller.SMSMessageReconciler, m *v1alpha1.SMSMessage) (ctrl.Result, error) {
		return r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(m)})
	}

	It("does not send when the marker write conflicts", func() {
		m := newSMS(nsManual, "conflict")
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		api, err := sim.Client(onomondo.Config{})
		Expect(err).NotTo(HaveOccurred())
		var once sync.Once
		conflicting := interceptor.NewClient(k8sClient, interceptor.Funcs{
			SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
				once.Do(func() { // someone else writes first: a real conflict at the apiserver
					other := &v1alpha1.SMSMessage{}
					Expect(c.Get(ctx, client.ObjectKeyFromObject(obj), other)).To(Succeed())
					other.Labels = map[string]string{"touched": "yes"}
					Expect(c.Update(ctx, other)).To(Succeed())
				})
				return c.SubResource(sub).Update(ctx, obj, opts...)
			},
		})
		r := controller.NewSMSMessageReconciler(conflicting, api, nil, controller.SMSOptions{MinBackoff: time.Millisecond})

		res, err := reconcileOnce(r, m)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.Requeue).To(BeTrue()) //nolint:staticcheck // the reconciler asks to come back
		Expect(accepted(m.Spec.Text)).To(Equal(0), "sent although the marker was not written")

		By("the next attempt sends, once")
		_, err = reconcileOnce(r, m)
		Expect(err).NotTo(HaveOccurred())
		Expect(accepted(m.Spec.Text)).To(Equal(1))
		Expect(get(m)().(*v1alpha1.SMSMessage).Status.Conditions).To(ContainElement(HaveField("Reason", controller.ReasonAccepted)))
	})

	It("retries a refused connection and sends exactly once when the API is back", func() {
		m := newSMS(nsManual, "refused")
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		down, err := testutil.StartSimulator(simulator.Options{})
		Expect(err).NotTo(HaveOccurred())
		deadAPI, err := down.Client(onomondo.Config{})
		Expect(err).NotTo(HaveOccurred())
		down.Close()
		api := &swappableSMSAPI{SMSAPI: deadAPI}
		r := controller.NewSMSMessageReconciler(k8sClient, api, nil, controller.SMSOptions{MinBackoff: time.Millisecond})

		res, err := reconcileOnce(r, m)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(BeNumerically(">", 0))
		Expect(sentCondition(get(m)().(*v1alpha1.SMSMessage))).To(HaveField("Reason", "APIUnreachable"))

		By("the API coming back")
		api.SMSAPI, err = sim.Client(onomondo.Config{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() string {
			_, err := reconcileOnce(r, m)
			Expect(err).NotTo(HaveOccurred())
			return sentCondition(get(m)().(*v1alpha1.SMSMessage)).Reason
		}, 5*time.Second, 5*time.Millisecond).Should(Equal(controller.ReasonAccepted))
		Expect(accepted(m.Spec.Text)).To(Equal(1))
	})

	It("turns a marker left by a crash into DeliveryUnknown without sending", func() {
		m := newSMS(nsManual, "crashed")
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		m.Status.AttemptID, m.Status.Attempts = "abc123", 1
		m.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionSent, Status: metav1.ConditionUnknown,
			Reason: controller.ReasonSending, Message: "sending", LastTransitionTime: metav1.Now()}}
		Expect(k8sClient.Status().Update(ctx, m)).To(Succeed())

		api, err := sim.Client(onomondo.Config{})
		Expect(err).NotTo(HaveOccurred())
		r := controller.NewSMSMessageReconciler(k8sClient, api, nil, controller.SMSOptions{})
		_, err = reconcileOnce(r, m)
		Expect(err).NotTo(HaveOccurred())
		Expect(sentCondition(get(m)().(*v1alpha1.SMSMessage))).To(HaveField("Reason", controller.ReasonDeliveryUnknown))
		_, err = reconcileOnce(r, m)
		Expect(err).NotTo(HaveOccurred())
		Expect(calls(m.Spec.To)).To(BeEmpty())
	})
})

var _ = Describe("SMSMessage across manager restarts", func() {
	It("sends each of 120 messages at most once while the manager is killed and restarted mid-flight", func() {
		const n = 120
		sim.SetFaults(simulator.Faults{Only: "/sms/+4570", LatencyMillis: 15})
		defer sim.SetFaults(simulator.Faults{})
		msgs := make([]*v1alpha1.SMSMessage, n)
		for i := range msgs {
			msgs[i] = &v1alpha1.SMSMessage{
				ObjectMeta: metav1.ObjectMeta{Namespace: nsRestart, Name: fmt.Sprintf("batch-%03d", i)},
				Spec:       v1alpha1.SMSMessageSpec{To: fmt.Sprintf("+4570%06d", i), From: "Fleet", Text: fmt.Sprintf("batch message %03d", i)},
			}
			Expect(k8sClient.Create(ctx, msgs[i])).To(Succeed())
		}

		By("killing the manager at random moments, fifteen times")
		rng := rand.New(rand.NewPCG(1, 2))
		for range 15 {
			mctx, stop := context.WithCancel(ctx)
			stopped := startManager(mctx, time.Hour, nsRestart)
			time.Sleep(time.Duration(50+rng.IntN(250)) * time.Millisecond) // let sends be in flight, then kill
			stop()
			<-stopped
		}

		By("letting a last manager finish the batch")
		mctx, stop := context.WithCancel(ctx)
		defer stop()
		startManager(mctx, time.Hour, nsRestart)
		final := map[string]bool{controller.ReasonAccepted: true, controller.ReasonDeliveryUnknown: true}
		Eventually(func(g Gomega) {
			for _, m := range msgs {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(m), m)).To(Succeed())
				c := sentCondition(m)
				g.Expect(c).NotTo(BeNil(), m.Name)
				g.Expect(final).To(HaveKey(c.Reason), m.Name)
			}
		}, 60*time.Second, 200*time.Millisecond).Should(Succeed())

		By("checking every message against the simulator's log")
		sent, unknown := 0, 0
		for _, m := range msgs {
			count := accepted(m.Spec.Text)
			Expect(count).To(BeNumerically("<=", 1), "%s was sent %d times", m.Name, count)
			if sentCondition(m).Reason == controller.ReasonAccepted {
				Expect(count).To(Equal(1), "%s says Accepted but the API got %d", m.Name, count)
				sent++
			} else {
				unknown++
			}
		}
		GinkgoWriter.Printf("restart batch: %d accepted, %d delivery unknown\n", sent, unknown)
		Expect(sent).To(BeNumerically(">", 0))
	})
})

var _ = apierrors.IsConflict
