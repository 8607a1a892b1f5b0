package controller_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// object builds an unstructured manifest of this group, so that tests can
// send what a typed client cannot (wrong types, unknown values).
func object(kind, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "namespace": nsSpec},
		"spec":       spec,
	}}
	return u
}

var _ = Describe("SIM admission", func() {
	DescribeTable("rejects an invalid manifest with a message naming the field",
		func(spec map[string]any, field string) {
			err := k8sClient.Create(ctx, object("SIM", "invalid", spec))
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(field))
		},
		Entry("no identifier", map[string]any{"voice": true}, "spec.imsi or spec.msisdn"),
		Entry("imsi too short", map[string]any{"imsi": "23873123"}, "spec.imsi"),
		Entry("imsi too long", map[string]any{"imsi": "2387312345678901"}, "spec.imsi"),
		Entry("imsi with letters", map[string]any{"imsi": "23873123456789a"}, "spec.imsi"),
		Entry("imsi as a number", map[string]any{"imsi": 238731234567890}, "spec.imsi"),
		Entry("msisdn with letters", map[string]any{"msisdn": "45abc"}, "spec.msisdn"),
		Entry("msisdn starting with 0", map[string]any{"msisdn": "04512345678"}, "spec.msisdn"),
		Entry("msisdn too long", map[string]any{"msisdn": "+4512345678901234"}, "spec.msisdn"),
		Entry("voice not a boolean", map[string]any{"imsi": "238731234567890", "voice": "yes"}, "spec.voice"),
		Entry("sms not a boolean", map[string]any{"imsi": "238731234567890", "sms": 1}, "spec.sms"),
		Entry("data not a boolean", map[string]any{"imsi": "238731234567890", "data": "true"}, "spec.data"),
		Entry("dataThrottling not a boolean", map[string]any{"imsi": "238731234567890", "dataThrottling": "on"}, "spec.dataThrottling"),
		Entry("throttling without data", map[string]any{"imsi": "238731234567890", "data": false, "dataThrottling": true}, "spec.dataThrottling"),
		Entry("unknown deletionPolicy", map[string]any{"imsi": "238731234567890", "deletionPolicy": "Keep"}, "spec.deletionPolicy"),
		Entry("unknown managementPolicy", map[string]any{"imsi": "238731234567890", "managementPolicy": "ReadOnly"}, "spec.managementPolicy"),
		Entry("no spec at all", nil, "spec"),
	)

	It("keeps the identifier immutable, naming it", func() {
		imsi := newIMSI()
		s := newSIM(nsSpec, "immutable", imsi)
		s.Spec.ManagementPolicy = v1alpha1.ManagementPolicyObserveOnly
		Expect(k8sClient.Create(ctx, s)).To(Succeed())

		By("refusing a new IMSI")
		Expect(update(s, func(s *v1alpha1.SIM) { s.Spec.IMSI = newIMSI() })).
			To(MatchError(ContainSubstring("spec.imsi is immutable")))

		By("refusing to drop the IMSI")
		Expect(update(s, func(s *v1alpha1.SIM) { s.Spec.IMSI, s.Spec.MSISDN = "", "4512345678" })).
			To(MatchError(ContainSubstring("spec.imsi is immutable")))

		By("refusing a new MSISDN when it is the identifier")
		m := &v1alpha1.SIM{}
		m.Namespace, m.Name = nsSpec, "immutable-msisdn"
		m.Spec = v1alpha1.SIMSpec{MSISDN: "4512399999", ManagedPolicies: v1alpha1.ManagedPolicies{ManagementPolicy: v1alpha1.ManagementPolicyObserveOnly}}
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		Expect(update(m, func(s *v1alpha1.SIM) { s.Spec.MSISDN = "4512388888" })).To(MatchError(ContainSubstring("spec.msisdn identifies this SIM")))
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
	})

	It("leaves unset settings unset (not managed), and fills only the policies' defaults", func() {
		u := object("SIM", "defaults", map[string]any{"imsi": newIMSI(), "managementPolicy": "ObserveOnly"})
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		s := &v1alpha1.SIM{}
		Expect(k8sClient.Get(ctx, clientKey(u), s)).To(Succeed())
		Expect(s.Spec.SIMSettings).To(Equal(v1alpha1.SIMSettings{}))
		Expect(s.Spec.DeletionPolicy).To(Equal(v1alpha1.DeletionPolicyDelete))
	})

	It("admits throttling with data left unmanaged, and refuses it with data: false", func() {
		Expect(k8sClient.Create(ctx, object("SIM", "throttle-only", map[string]any{
			"imsi": newIMSI(), "dataThrottling": true, "managementPolicy": "ObserveOnly"}))).To(Succeed())
		err := k8sClient.Create(ctx, object("SIM", "throttle-no-data", map[string]any{
			"imsi": newIMSI(), "dataThrottling": true, "data": false}))
		Expect(err).To(MatchError(ContainSubstring("spec.dataThrottling: true requires spec.data: true")))
	})
})
