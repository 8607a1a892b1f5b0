package controller_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/simulator"
)

// msisdnFor is a fresh MSISDN derived from a fresh IMSI.
func msisdnFor(imsi string) string { return "4561" + imsi[7:] }

// writes counts the POSTs, PUTs and DELETEs among requests.
func writes(ids ...string) int {
	n := 0
	for _, id := range ids {
		for _, r := range calls(id) {
			if r.Method != "GET" {
				n++
			}
		}
	}
	return n
}

var _ = Describe("SIM identity and ownership", func() {
	AfterEach(func() { sim.SetFaults(simulator.Faults{}) })

	It("binds a resource to the SIM the API confirmed: IMSI and MSISDN in status", func() {
		imsi := newIMSI()
		msisdn := msisdnFor(imsi)
		putLive(imsi, msisdn)
		s := newSIM(nsSpec, "bound", imsi)
		createReady(s)
		Expect(s.Status.Binding).To(Equal(&v1alpha1.SIMBinding{IMSI: imsi, MSISDN: msisdn}))
	})

	Context("case 1: two resources reach one SIM by different identifiers", func() {
		It("makes the younger a DuplicateSIM with zero API calls when the owner's binding names the other identifier", func() {
			imsi := newIMSI()
			msisdn := msisdnFor(imsi)
			putLive(imsi, msisdn)
			a := newSIM(nsDrift, "twin-by-imsi", imsi)
			a.Spec.Voice = ptr.To(false)
			createReady(a)
			Expect(a.Status.Binding.MSISDN).To(Equal(msisdn))

			b := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: nsDrift, Name: "twin-by-msisdn"},
				Spec: v1alpha1.SIMSpec{MSISDN: "+" + msisdn, SIMSettings: settings(true, true, true)}}
			Expect(k8sClient.Create(ctx, b)).To(Succeed())
			waitForCondition(b, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonDuplicateSIM)
			Expect(condition(b, v1alpha1.ConditionSynced).Message).To(ContainSubstring(nsDrift + "/twin-by-imsi"))

			By("letting several one-second sync periods pass: no opposing PUTs")
			before := writes(imsi)
			Consistently(func() int { return writes(imsi, msisdn, "+"+msisdn) }, 3500*time.Millisecond, 100*time.Millisecond).
				Should(Equal(before))
			Expect(calls(msisdn)).To(BeEmpty(), "the duplicate called the API")
			Expect(simState(imsi).Voice).To(BeFalse())
		})

		It("catches a twin from the GET of its adoption, before any write", func() {
			imsi := newIMSI()
			msisdn := msisdnFor(imsi)
			a := newSIM(nsSpec, "twin-owner", imsi)
			createReady(a)
			Expect(a.Status.Binding).To(Equal(&v1alpha1.SIMBinding{IMSI: imsi}), "created by IMSI: no MSISDN known yet")

			By("the SIM gets an MSISDN outside the operator; a second resource names that MSISDN")
			putLive(imsi, msisdn)
			b := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: nsSpecB, Name: "twin-late"},
				Spec: v1alpha1.SIMSpec{MSISDN: msisdn, SIMSettings: settings(false, false, false)}}
			Expect(k8sClient.Create(ctx, b)).To(Succeed())
			waitForCondition(b, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonDuplicateSIM)
			Expect(verbs(calls(msisdn))).To(Equal([]string{"POST 409", "GET 200"}))
			Consistently(func() []string { return verbs(calls(msisdn)) }, 700*time.Millisecond).Should(HaveLen(2))
			Expect(simState(imsi)).To(Equal(simulator.SIM{IMSI: imsi, MSISDN: msisdn, Voice: true, SMS: true, Data: true}))
		})
	})

	Context("case 2: an IMSI typed into a SIM addressed by its MSISDN", func() {
		It("refuses it with IdentityMismatch, calls neither SIM, and deletes only the bound one", func() {
			other := newIMSI()
			sim.PutSIM(simulator.SIM{IMSI: other, Voice: true, SMS: true, Data: true})
			msisdn := msisdnFor(newIMSI())
			s := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: nsSpec, Name: "typed-imsi"},
				Spec: v1alpha1.SIMSpec{MSISDN: msisdn, SIMSettings: settings(true, true, true)}}
			createReady(s)
			Expect(s.Status.Binding).To(Equal(&v1alpha1.SIMBinding{MSISDN: msisdn}))

			Expect(update(s, func(s *v1alpha1.SIM) { s.Spec.IMSI = other })).To(Succeed())
			waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonIdentityMismatch)
			Expect(condition(s, v1alpha1.ConditionReady).Reason).To(Equal(controller.ReasonIdentityMismatch))
			Expect(s.Status.LastError.Terminal).To(BeTrue())
			bound := s.Status.Binding.IMSI
			Expect(bound).NotTo(BeEmpty())
			Expect(bound).NotTo(Equal(other))
			Expect(verbs(calls(msisdn))).To(Equal([]string{"POST 200", "GET 200"}), "one read to learn the bound IMSI")
			Consistently(func() int { return len(calls(other)) + len(calls(bound)) }, 700*time.Millisecond).Should(BeZero())

			By("deleting the resource deletes the bound SIM, never the one typed")
			Expect(k8sClient.Delete(ctx, s)).To(Succeed())
			Eventually(func() bool { return isGone(s) }, 10*time.Second).Should(BeTrue())
			Expect(verbs(calls(bound))).To(Equal([]string{"DELETE 200"}))
			Expect(calls(other)).To(BeEmpty())
			_, exists := sim.SIM(other)
			Expect(exists).To(BeTrue())
		})

		It("accepts the IMSI when it is the bound SIM's, after one read", func() {
			msisdn := msisdnFor(newIMSI())
			s := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: nsSpec, Name: "typed-right-imsi"},
				Spec: v1alpha1.SIMSpec{MSISDN: msisdn, SIMSettings: settings(true, true, true)}}
			createReady(s)
			real, ok := sim.SIM(msisdn)
			Expect(ok).To(BeTrue())

			Expect(update(s, func(s *v1alpha1.SIM) { s.Spec.IMSI = real.IMSI })).To(Succeed())
			waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionTrue, controller.ReasonReconcileSuccess)
			Expect(s.Status.Binding).To(Equal(&v1alpha1.SIMBinding{IMSI: real.IMSI, MSISDN: msisdn}))
			Expect(verbs(calls(msisdn))).To(Equal([]string{"POST 200", "GET 200"}))
			Expect(calls(real.IMSI)).To(BeEmpty())
		})
	})

	Context("case 3: a SIM renamed in Git", func() {
		It("hands the SIM over to the new resource: no DELETE, no POST, a GET and a PUT only if it differs", func() {
			imsi := newIMSI()
			old := newSIM(nsSpec, "rename-old", imsi)
			createReady(old)

			By("Argo CD creates the new name first: it waits as a duplicate")
			renamed := newSIM(nsSpec, "rename-new", imsi)
			Expect(k8sClient.Create(ctx, renamed)).To(Succeed())
			waitForCondition(renamed, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonDuplicateSIM)

			By("then prunes the old name (deletionPolicy Delete)")
			Expect(k8sClient.Delete(ctx, old)).To(Succeed())
			Eventually(func() bool { return isGone(old) }, 10*time.Second).Should(BeTrue())
			eventuallyEvents(old, "HandedOver")
			waitForCondition(renamed, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
			Expect(renamed.Status.Binding).To(Equal(&v1alpha1.SIMBinding{IMSI: imsi}))
			Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200", "GET 200"}))
			_, exists := sim.SIM(imsi)
			Expect(exists).To(BeTrue())
		})
	})

	Context("case 6: importing a live SIM", func() {
		It("never changes a setting the manifest leaves out, and shows the SIM's values in status", func() {
			imsi := newIMSI()
			sim.PutSIM(simulator.SIM{IMSI: imsi, Voice: false, SMS: false, Data: true, DataThrottling: true})
			s := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: nsSpec, Name: "import-identity-only"},
				Spec: v1alpha1.SIMSpec{IMSI: imsi}}
			createReady(s)
			Expect(verbs(calls(imsi))).To(Equal([]string{"POST 409", "GET 200"}))
			Expect(s.Status.AtProvider).To(Equal(observed(imsi, "", false, false, true, true)))

			By("managing one setting changes that one only")
			Expect(update(s, func(s *v1alpha1.SIM) { s.Spec.Voice = ptr.To(true) })).To(Succeed())
			Eventually(func() simulator.SIM { return simState(imsi) }, 10*time.Second, 20*time.Millisecond).
				Should(Equal(simulator.SIM{IMSI: imsi, Voice: true, SMS: false, Data: true, DataThrottling: true}))
			// The simulator logs a request once it has answered it: after its state changed.
			Eventually(func() []string { return verbs(calls(imsi)) }, 5*time.Second, 20*time.Millisecond).
				Should(Equal([]string{"POST 409", "GET 200", "PUT 200"}))
		})

		It("creates a new SIM with the API's documented defaults for what the manifest leaves out", func() {
			imsi := newIMSI()
			s := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: nsSpec, Name: "create-defaults"},
				Spec: v1alpha1.SIMSpec{IMSI: imsi, SIMSettings: v1alpha1.SIMSettings{SMS: ptr.To(false)}}}
			createReady(s)
			Expect(simState(imsi)).To(Equal(simulator.SIM{IMSI: imsi, Voice: true, SMS: false, Data: true}))
			Expect(s.Status.AtProvider).To(Equal(observed(imsi, "", true, false, true, false)))
		})
	})

	Context("case 8: a 404 the API does not explain", func() {
		It("keeps the finalizer and retries the DELETE until the API says the SIM is gone", func() {
			imsi := newIMSI()
			s := newSIM(nsSpec, "delete-bare-404", imsi)
			createReady(s)

			sim.SetFaults(simulator.Faults{Only: "/sim/" + imsi, FailNext: 2, FailStatus: 404}) // {"error":"not_found"}, as a proxy might say
			Expect(k8sClient.Delete(ctx, s)).To(Succeed())
			waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, "NotFound")
			Expect(s.Finalizers).To(ContainElement(controller.Finalizer))
			Eventually(func() bool { return isGone(s) }, 10*time.Second).Should(BeTrue())
			Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200", "DELETE 404", "DELETE 404", "DELETE 200"}))
			_, exists := sim.SIM(imsi)
			Expect(exists).To(BeFalse())
		})
	})
})
