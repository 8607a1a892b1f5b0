package controller_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/simulator"
)

// kstatusOf computes the kstatus of the live object, as Flux's health checks
// and kpt do.
func kstatusOf(obj client.Object) status.Status {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(get(obj)())
	Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	Expect(err).NotTo(HaveOccurred())
	return res.Status
}

var _ = Describe("kstatus", func() {
	AfterEach(func() { sim.SetFaults(simulator.Faults{}) })

	It("reads Current when Ready, InProgress while retrying, Failed when stalled", func() {
		ready := createReady(newSIM(nsSpec, "kstatus-ready", newIMSI()))
		Expect(kstatusOf(ready)).To(Equal(status.CurrentStatus))

		imsi := newIMSI()
		sim.SetFaults(simulator.Faults{Only: "/sim/" + imsi, FailNext: 1000})
		retrying := newSIM(nsSpec, "kstatus-retrying", imsi)
		Expect(k8sClient.Create(ctx, retrying)).To(Succeed())
		waitForCondition(retrying, v1alpha1.ConditionReconciling, metav1.ConditionTrue, "ServiceUnavailable")
		Expect(kstatusOf(retrying)).To(Equal(status.InProgressStatus))

		terminal := newSIM(nsSpec, "kstatus-terminal", "999000000000777")
		Expect(k8sClient.Create(ctx, terminal)).To(Succeed())
		waitForCondition(terminal, v1alpha1.ConditionStalled, metav1.ConditionTrue, "ImsiForbidden")
		Expect(kstatusOf(terminal)).To(Equal(status.FailedStatus))

		dup := newSIM(nsSpecB, "kstatus-duplicate", ready.Spec.IMSI)
		Expect(k8sClient.Create(ctx, dup)).To(Succeed())
		waitForCondition(dup, v1alpha1.ConditionStalled, metav1.ConditionTrue, controller.ReasonDuplicateSIM)
		Expect(kstatusOf(dup)).To(Equal(status.FailedStatus))

		By("recovering: the conditions go, and the object is Current")
		sim.SetFaults(simulator.Faults{})
		waitForCondition(retrying, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(kstatusOf(retrying)).To(Equal(status.CurrentStatus))
		Expect(condition(retrying, v1alpha1.ConditionReconciling)).To(BeNil())
	})
})
