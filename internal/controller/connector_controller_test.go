package controller_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/simulator"
)

var connSeq atomic.Int64

func newConnector(ns, config string) *v1alpha1.Connector {
	id := fmt.Sprintf("conn-%d", connSeq.Add(1))
	return &v1alpha1.Connector{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: id},
		Spec:       v1alpha1.ConnectorSpec{ID: id, Config: runtime.RawExtension{Raw: []byte(config)}},
	}
}

var _ = Describe("Connector controller", func() {
	AfterEach(func() { sim.SetFaults(simulator.Faults{}) })

	It("creates a connector with one POST, its body preserved as written", func() {
		c := newConnector(nsSpec, `{"type":"webhook","url":"https://hooks.example/x","retries":3,"headers":{"X-Key":"a"}}`)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		waitForCondition(c, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(verbs(calls(c.Spec.ID))).To(Equal([]string{"POST 200"}))
		stored, _ := sim.Connector(c.Spec.ID)
		Expect(stored).To(Equal(map[string]any{"type": "webhook", "url": "https://hooks.example/x", "retries": 3.0,
			"headers": map[string]any{"X-Key": "a"}}))
		Expect(c.Finalizers).To(ContainElement(controller.Finalizer))
		eventuallyEvents(c, "Created")
	})

	It("adopts an existing connector, and PUTs only if it differs", func() {
		c := newConnector(nsSpec, `{"type":"webhook","url":"https://new"}`)
		sim.PutConnector(c.Spec.ID, map[string]any{"type": "webhook", "url": "https://old"})
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		waitForCondition(c, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(verbs(calls(c.Spec.ID))).To(Equal([]string{"POST 409", "GET 200", "PUT 200"}))
		eventuallyEvents(c, "Adopted", "Updated")

		same := newConnector(nsSpec, `{"type":"mqtt"}`)
		sim.PutConnector(same.Spec.ID, map[string]any{"type": "mqtt", "server_side": true})
		Expect(k8sClient.Create(ctx, same)).To(Succeed())
		waitForCondition(same, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(verbs(calls(same.Spec.ID))).To(Equal([]string{"POST 409", "GET 200"}))
	})

	It("applies a spec change with one PUT", func() {
		c := newConnector(nsSpec, `{"type":"webhook","retries":3}`)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		waitForCondition(c, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(update(c, func(c *v1alpha1.Connector) { c.Spec.Config.Raw = []byte(`{"type":"webhook","retries":5}`) })).To(Succeed())
		Eventually(func() any { v, _ := sim.Connector(c.Spec.ID); return v["retries"] }, 10*time.Second).Should(Equal(5.0))
		Expect(verbs(calls(c.Spec.ID))).To(Equal([]string{"POST 200", "PUT 200"}))
	})

	DescribeTable("records each connector error code in status, without a hot loop",
		func(status int, code, reason string) {
			c := newConnector(nsSpec, `{"type":"webhook"}`)
			sim.SetFaults(simulator.Faults{Only: "/connector/" + c.Spec.ID, FailNext: 1, FailStatus: status, FailCode: code})
			Expect(k8sClient.Create(ctx, c)).To(Succeed())
			waitForCondition(c, v1alpha1.ConditionSynced, metav1.ConditionFalse, reason)
			Expect(c.Status.LastError).To(HaveField("Code", code))
			Expect(c.Status.LastError.Terminal).To(BeTrue())
			Consistently(func() int { return len(calls(c.Spec.ID)) }, 500*time.Millisecond).Should(Equal(1))
		},
		Entry("400 id_invalid", 400, "id_invalid", "IdInvalid"),
		Entry("400 config_invalid", 400, "config_invalid", "ConfigInvalid"),
		Entry("404 connector_not_found", 404, "connector_not_found", "ConnectorNotFound"),
		Entry("an undocumented code the API might send", 422, "webhook_unreachable", "WebhookUnreachable"),
	)

	It("reports an unresolvable connector_conflict, and refuses an oversized body without a call", func() {
		c := newConnector(nsSpec, `{"type":"webhook"}`)
		sim.SetFaults(simulator.Faults{Only: "/connector/" + c.Spec.ID, FailNext: 1, FailStatus: 409, FailCode: "connector_conflict"})
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		waitForCondition(c, v1alpha1.ConditionSynced, metav1.ConditionFalse, "ConnectorConflict")
		Expect(verbs(calls(c.Spec.ID))).To(Equal([]string{"POST 409", "GET 404"}))

		big := newConnector(nsSpec, fmt.Sprintf(`{"blob":%q}`, strings.Repeat("x", controller.MaxConnectorConfig)))
		Expect(k8sClient.Create(ctx, big)).To(Succeed())
		waitForCondition(big, v1alpha1.ConditionSynced, metav1.ConditionFalse, "ConfigTooLarge")
		Expect(calls(big.Spec.ID)).To(BeEmpty())
	})

	It("deletes with deletionPolicy Delete and leaves the connector with Orphan", func() {
		c := newConnector(nsSpec, `{"type":"webhook"}`)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		waitForCondition(c, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(k8sClient.Delete(ctx, c)).To(Succeed())
		Eventually(func() bool { return isGone(c) }, 10*time.Second).Should(BeTrue())
		_, exists := sim.Connector(c.Spec.ID)
		Expect(exists).To(BeFalse())

		o := newConnector(nsSpec, `{"type":"webhook"}`)
		o.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		Expect(k8sClient.Create(ctx, o)).To(Succeed())
		waitForCondition(o, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(k8sClient.Delete(ctx, o)).To(Succeed())
		Eventually(func() bool { return isGone(o) }, 10*time.Second).Should(BeTrue())
		_, exists = sim.Connector(o.Spec.ID)
		Expect(exists).To(BeTrue())
		Expect(verbs(calls(o.Spec.ID))).To(Equal([]string{"POST 200"}))
	})

	DescribeTable("rejects an invalid Connector at admission, naming the field",
		func(spec map[string]any, field string) {
			err := k8sClient.Create(ctx, object("Connector", "invalid", spec))
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(field))
		},
		Entry("no id", map[string]any{"config": map[string]any{}}, "spec.id"),
		Entry("id with a space", map[string]any{"id": "a b", "config": map[string]any{}}, "spec.id"),
		Entry("id too long", map[string]any{"id": strings.Repeat("a", 64), "config": map[string]any{}}, "spec.id"),
		Entry("no config", map[string]any{"id": "x"}, "spec.config"),
		Entry("config not an object", map[string]any{"id": "x", "config": []any{1}}, "spec.config"),
		Entry("unknown deletionPolicy", map[string]any{"id": "x", "config": map[string]any{}, "deletionPolicy": "Keep"}, "spec.deletionPolicy"),
	)

	It("keeps the id immutable", func() {
		c := newConnector(nsSpec, `{}`)
		c.Spec.ManagementPolicy = v1alpha1.ManagementPolicyObserveOnly
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		Expect(update(c, func(c *v1alpha1.Connector) { c.Spec.ID = "other" })).
			To(MatchError(ContainSubstring("spec.id is immutable")))
	})
})

var _ = Describe("Connector drift (one-second sync period)", func() {
	It("corrects a change to a key the user wrote, and ignores keys the API added", func() {
		c := newConnector(nsDrift, `{"type":"webhook","retries":3,"nested":{"a":1}}`)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		waitForCondition(c, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)

		By("the API adding keys of its own, and writing 1 as 1.0: not drift")
		sim.PutConnector(c.Spec.ID, map[string]any{"type": "webhook", "retries": 3.0, "nested": map[string]any{"a": 1.0, "b": 2.0}, "created_at": "2026-11-27"})
		start := len(calls(c.Spec.ID))
		Eventually(func() int { return len(calls(c.Spec.ID)) }, 10*time.Second, 50*time.Millisecond).Should(BeNumerically(">=", start+2))
		for _, r := range calls(c.Spec.ID)[start:] {
			Expect(r.Method).To(Equal("GET"))
		}

		By("a change to a user key: corrected with one PUT")
		sim.PutConnector(c.Spec.ID, map[string]any{"type": "webhook", "retries": 9.0, "nested": map[string]any{"a": 1.0}})
		Eventually(func() any { v, _ := sim.Connector(c.Spec.ID); return v["retries"] }, 10*time.Second, 50*time.Millisecond).Should(Equal(3.0))
		eventuallyEvents(c, "DriftCorrected")
	})

	It("recreates a connector deleted outside the operator", func() {
		c := newConnector(nsDrift, `{"type":"webhook"}`)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		waitForCondition(c, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(sim.DeleteConnectorOutOfBand(c.Spec.ID)).To(BeTrue())
		Eventually(func() bool { _, ok := sim.Connector(c.Spec.ID); return ok }, 10*time.Second, 50*time.Millisecond).Should(BeTrue())
		eventuallyEvents(c, "Recreated")
	})
})
