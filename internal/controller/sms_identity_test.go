package controller_test

import (
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/simulator"
	"github.com/sim-operator/sim-operator/internal/smsledger"
)

// smsTo counts the SMS the simulator accepted for a number.
func smsTo(msisdn string) int {
	n := 0
	for _, m := range sim.SMS() {
		if m.To == msisdn || m.To == "+"+msisdn {
			n++
		}
	}
	return n
}

var _ = Describe("SMSMessage identity and at-most-once per manifest", func() {
	AfterEach(func() { sim.SetFaults(simulator.Faults{}) })

	Context("case 4: a simRef to a SIM that is not bound", func() {
		It("never takes the number from the SIM's spec: the message waits with the reason", func() {
			other := newIMSI()
			taken := msisdnFor(other)
			putLive(other, taken)
			s := newSIM(nsSMS, "wants-taken-number", newIMSI())
			s.Spec.MSISDN = taken
			Expect(k8sClient.Create(ctx, s)).To(Succeed())
			waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, "ImsiConflict")

			m := newSMS(nsSMS, "to-unbound-sim")
			m.Spec.To, m.Spec.SIMRef = "", &v1alpha1.LocalSIMReference{Name: s.Name}
			Expect(k8sClient.Create(ctx, m)).To(Succeed())
			waitForSent(m, metav1.ConditionFalse, controller.ReasonSIMNotBound)
			Consistently(func() int { return smsTo(taken) }, 700*time.Millisecond).Should(BeZero())
		})

		It("waits for a duplicate SIM, and sends to the bound MSISDN of the owner's resource", func() {
			imsi := newIMSI()
			number := msisdnFor(imsi)
			putLive(imsi, number)
			owner := newSIM(nsSMS, "sms-owner", imsi)
			createReady(owner)
			dup := newSIM(nsSMS, "sms-dup", imsi)
			Expect(k8sClient.Create(ctx, dup)).To(Succeed())
			waitForCondition(dup, v1alpha1.ConditionReady, metav1.ConditionFalse, controller.ReasonDuplicateSIM)

			viaDup := newSMS(nsSMS, "via-duplicate")
			viaDup.Spec.To, viaDup.Spec.SIMRef = "", &v1alpha1.LocalSIMReference{Name: dup.Name}
			Expect(k8sClient.Create(ctx, viaDup)).To(Succeed())
			waitForSent(viaDup, metav1.ConditionFalse, controller.ReasonSIMDuplicate)

			viaOwner := newSMS(nsSMS, "via-owner")
			viaOwner.Spec.To, viaOwner.Spec.SIMRef = "", &v1alpha1.LocalSIMReference{Name: owner.Name}
			Expect(k8sClient.Create(ctx, viaOwner)).To(Succeed())
			waitForSent(viaOwner, metav1.ConditionTrue, controller.ReasonAccepted)
			Expect(viaOwner.Status.Recipient).To(Equal(number))
			Expect(smsTo(number)).To(Equal(1))
		})

		It("makes a SIM with no known MSISDN read it at once, then sends to it", func() {
			imsi := newIMSI()
			s := newSIM(nsSMS, "learns-msisdn", imsi)
			createReady(s)
			Expect(s.Status.Binding.MSISDN).To(BeEmpty())

			number := msisdnFor(imsi)
			putLive(imsi, number)
			m := newSMS(nsSMS, "needs-msisdn")
			m.Spec.To, m.Spec.SIMRef = "", &v1alpha1.LocalSIMReference{Name: s.Name}
			Expect(k8sClient.Create(ctx, m)).To(Succeed())
			waitForSent(m, metav1.ConditionTrue, controller.ReasonAccepted)
			Expect(m.Status.Recipient).To(Equal(number))
			Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200", "GET 200"}))
			Expect(get(s)().(*v1alpha1.SIM).Status.Binding.MSISDN).To(Equal(number))
		})
	})

	Context("case 5: the same message applied again from Git", func() {
		It("sends it once: later objects with the same namespace, name and spec are AlreadySent", func() {
			apply := func(text string) *v1alpha1.SMSMessage {
				m := newSMS(nsSMS, "gitops-wake-up")
				m.Spec.To, m.Spec.Text, m.Spec.TTLSecondsAfterFinished = "+4570000001", text, ptr.To[int32](0)
				Expect(k8sClient.Create(ctx, m)).To(Succeed())
				return m
			}
			first := apply("WAKEUP interval=300")
			waitForSent(first, metav1.ConditionTrue, controller.ReasonAccepted)
			sentAt := first.Status.SentAt
			By("the TTL deletes it")
			Eventually(func() bool { return isGone(first) }, 10*time.Second).Should(BeTrue())

			By("a self-heal re-creates it, twice: not sent again, the earlier sentAt shown, and not deleted by the TTL")
			for range 2 {
				again := apply("WAKEUP interval=300")
				waitForSent(again, metav1.ConditionTrue, controller.ReasonAlreadySent)
				Expect(again.Status.SentAt.Equal(sentAt)).To(BeTrue())
				Expect(again.Status.Recipient).To(Equal("+4570000001"))
				Consistently(func() bool { return isGone(again) }, 1500*time.Millisecond).Should(BeFalse())
				Expect(accepted("WAKEUP interval=300")).To(Equal(1))
				Expect(k8sClient.Delete(ctx, again)).To(Succeed())
				Eventually(func() bool { return isGone(again) }, 10*time.Second).Should(BeTrue())
			}

			By("the record is an SMSRecord in the message's namespace, no ConfigMap")
			var recs v1alpha1.SMSRecordList
			Expect(k8sClient.List(ctx, &recs, client.InNamespace(nsSMS))).To(Succeed())
			Expect(recs.Items).To(ContainElement(HaveField("Spec.Message", "gitops-wake-up")))
			var cms corev1.ConfigMapList
			Expect(k8sClient.List(ctx, &cms, client.InNamespace(nsSMS), client.HasLabels{smsledger.LabelSMSRecord})).To(Succeed())
			Expect(cms.Items).To(BeEmpty())

			By("a changed text under the same name is a new message")
			changed := apply("WAKEUP interval=600")
			waitForSent(changed, metav1.ConditionTrue, controller.ReasonAccepted)
			Expect(accepted("WAKEUP interval=600")).To(Equal(1))
		})

		It("keeps the records of earlier versions (ConfigMaps) across an upgrade: nothing is sent again", func() {
			m := newSMS(nsSMS, "upgraded")
			m.Spec.TTLSecondsAfterFinished = ptr.To[int32](0)
			Expect(k8sClient.Create(ctx, m)).To(Succeed())
			Eventually(func() bool { return isGone(m) }, 20*time.Second).Should(BeTrue())
			Expect(accepted(m.Spec.Text)).To(Equal(1))

			By("the record as the version before SMSRecord kept it: a labelled ConfigMap")
			var recs v1alpha1.SMSRecordList
			Expect(k8sClient.List(ctx, &recs, client.InNamespace(nsSMS))).To(Succeed())
			var rec *v1alpha1.SMSRecord
			for i := range recs.Items {
				if recs.Items[i].Spec.Message == "upgraded" {
					rec = &recs.Items[i]
				}
			}
			Expect(rec).NotTo(BeNil())
			data, err := json.Marshal(rec.Spec)
			Expect(err).NotTo(HaveOccurred())
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: nsSMS, Name: rec.Name,
				Labels: map[string]string{smsledger.LabelSMSRecord: "true"}}, Data: map[string]string{"record": string(data)}}
			Expect(k8sClient.Create(ctx, cm)).To(Succeed())
			Expect(k8sClient.Delete(ctx, rec)).To(Succeed())

			By("the upgraded manager migrates it")
			n, err := smsledger.MigrateSMSRecords(ctx, k8sClient, k8sClient)
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(BeNumerically(">=", 1))
			Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(cm), cm))).To(BeTrue())

			By("the message applied again is AlreadySent, not sent")
			again := newSMS(nsSMS, "upgraded")
			again.Spec = m.Spec
			Expect(k8sClient.Create(ctx, again)).To(Succeed())
			waitForSent(again, metav1.ConditionTrue, controller.ReasonAlreadySent)
			Expect(accepted(m.Spec.Text)).To(Equal(1))
		})

		It("does not send again a message whose earlier object may have been sent", func() {
			m := newSMS(nsSMS, "maybe-sent")
			sim.SetFaults(simulator.Faults{Only: "/sms/", DropNext: 1})
			Expect(k8sClient.Create(ctx, m)).To(Succeed())
			waitForSent(m, metav1.ConditionUnknown, controller.ReasonDeliveryUnknown)
			attempt := m.Status.AttemptID
			Expect(k8sClient.Delete(ctx, m)).To(Succeed())
			Eventually(func() bool { return isGone(m) }, 10*time.Second).Should(BeTrue())

			again := m.DeepCopy()
			again.ResourceVersion, again.UID, again.Status = "", "", v1alpha1.SMSMessageStatus{}
			Expect(k8sClient.Create(ctx, again)).To(Succeed())
			waitForSent(again, metav1.ConditionUnknown, controller.ReasonDeliveryUnknown)
			Expect(again.Status.AttemptID).To(Equal(attempt))
			Expect(accepted(m.Spec.Text)).To(Equal(1))
			Consistently(func() int { return accepted(m.Spec.Text) }, 700*time.Millisecond).Should(Equal(1))
		})
	})
})
