package controller_test

import (
	"context"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/admission"
	"github.com/sim-operator/sim-operator/internal/controller"
)

const nsPolicy = "finalizer-policy"

// config/admission's policy, as install.yaml and the chart install it: the
// apiserver sets the finalizer as a managed resource is created, so that
// the operator writes a new SIM once (its status), besides its Claim.
var _ = Describe("The finalizer admission policy", Ordered, func() {
	BeforeAll(func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsPolicy}})).To(Succeed())
		// Bound to this namespace only: the rest of the suite runs without it.
		Expect(admission.Install(ctx, k8sClient, filepath.Join("..", "..", admission.Dir), nsPolicy)).To(Succeed())
		mctx, stop := context.WithCancel(ctx)
		DeferCleanup(stop)
		startManager(mctx, time.Hour, nsPolicy)
	})

	It("sets the finalizer at create; the operator then writes the SIM once, its status", func() {
		imsi := newIMSI()
		s := newSIM(nsPolicy, "one-write", imsi)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Expect(s.Finalizers).To(Equal([]string{controller.Finalizer}), "the create's answer")

		By("every change to the SIM until Ready: one, the status")
		w, err := k8sClient.Watch(ctx, &v1alpha1.SIMList{}, client.InNamespace(nsPolicy),
			client.MatchingFields{"metadata.name": s.Name}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: s.ResourceVersion}})
		Expect(err).NotTo(HaveOccurred())
		defer w.Stop()
		var changes []*v1alpha1.SIM
		for ready := false; !ready; {
			var ev watch.Event
			Eventually(w.ResultChan(), 10*time.Second).Should(Receive(&ev))
			Expect(ev.Type).To(Equal(watch.Modified), "%v", ev.Object)
			changes = append(changes, ev.Object.(*v1alpha1.SIM))
			c := condition(changes[len(changes)-1], v1alpha1.ConditionReady)
			ready = c != nil && c.Status == metav1.ConditionTrue
		}
		Expect(changes).To(HaveLen(1), "a write came before the status")
		Consistently(w.ResultChan(), time.Second).ShouldNot(Receive(), "a write after Ready")

		Expect(k8sClient.Get(ctx, clientKey(s), s)).To(Succeed())
		Expect(s.Status.Claim).NotTo(BeEmpty(), "the claim is still held first")
		Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200"}))
	})

	It("still deletes the SIM in the API, and lets the resource go", func() {
		imsi := newIMSI()
		s := createReady(newSIM(nsPolicy, "delete", imsi))
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		Eventually(func() bool { return isGone(s) }, 10*time.Second).Should(BeTrue())
		Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200", "DELETE 200"}))
		eventuallyEvents(s, "Deleted")
	})

	It("leaves a SIM created paused or observe-only without the finalizer, so that it deletes at once", func() {
		paused := newSIM(nsPolicy, "paused", newIMSI())
		paused.Annotations = map[string]string{v1alpha1.AnnotationPaused: "true"}
		observed := newSIM(nsPolicy, "observed", newIMSI())
		observed.Spec.ManagementPolicy = v1alpha1.ManagementPolicyObserveOnly
		for _, s := range []*v1alpha1.SIM{paused, observed} {
			Expect(k8sClient.Create(ctx, s)).To(Succeed())
			Expect(s.Finalizers).To(BeEmpty(), s.Name)
		}
		waitForCondition(paused, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonReconcilePaused)
		Expect(k8sClient.Delete(ctx, paused)).To(Succeed())
		Eventually(func() bool { return isGone(paused) }, 10*time.Second).Should(BeTrue())
	})

	It("keeps a finalizer the manifest brings, beside its own", func() {
		s := newSIM(nsPolicy, "other-finalizer", newIMSI())
		s.Finalizers = []string{"example.com/keep"}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Expect(s.Finalizers).To(ConsistOf("example.com/keep", controller.Finalizer))
	})

	It("is not there where it is not bound: the operator patches the finalizer on itself", func() {
		s := newSIM(nsSpec, "no-policy", newIMSI())
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		Expect(s.Finalizers).To(BeEmpty())
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(s.Finalizers).To(Equal([]string{controller.Finalizer}))
	})
})
