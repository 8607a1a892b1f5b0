package controller_test

import (
	"os"
	"strings"
	"time"

	"k8s.io/utils/ptr"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/simulator"
)

// argoHealth runs an Argo CD health script, as Argo CD does with gopher-lua:
// the live object as the global obj, the returned table's status and message.
func argoHealth(script string, obj client.Object) (status, message string) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, u))
	Expect(L.DoString(script)).To(Succeed())
	hs, ok := L.Get(-1).(*lua.LTable)
	Expect(ok).To(BeTrue(), "the script must return a table")
	return hs.RawGetString("status").String(), hs.RawGetString("message").String()
}

func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	}
	return lua.LNil
}

func script(name string) string {
	b, err := os.ReadFile("../../config/argocd/" + name)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

var _ = Describe("Argo CD health checks, over objects the controllers produced", func() {
	AfterEach(func() { sim.SetFaults(simulator.Faults{}) })

	It("ships the tested scripts in the argocd-cm patch", func() {
		var cm corev1.ConfigMap
		Expect(yaml.Unmarshal([]byte(script("argocd-cm-patch.yaml")), &cm)).To(Succeed())
		Expect(cm.Data).To(HaveKeyWithValue("resource.customizations.health.onomondo.sim-operator.dev_SIM", script("health-sim.lua")))
		Expect(cm.Data).To(HaveKeyWithValue("resource.customizations.health.onomondo.sim-operator.dev_SMSMessage", script("health-smsmessage.lua")))
	})

	It("judges SIMs: Healthy, Degraded whenever Synced is False (terminal errors, duplicates, retries)", func() {
		health := func(s *v1alpha1.SIM) string { st, _ := argoHealth(script("health-sim.lua"), get(s)()); return st }

		fresh := newSIM(nsSpec, "argo-fresh", newIMSI()) // as applied, before the operator writes status
		st, _ := argoHealth(script("health-sim.lua"), fresh)
		Expect(st).To(Equal("Progressing"))

		ok := newSIM(nsSpec, "argo-healthy", newIMSI())
		Expect(k8sClient.Create(ctx, ok)).To(Succeed())
		waitForCondition(ok, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(health(ok)).To(Equal("Healthy"))

		bad := newSIM(nsSpec, "argo-forbidden", "999000000000555")
		Expect(k8sClient.Create(ctx, bad)).To(Succeed())
		waitForCondition(bad, v1alpha1.ConditionSynced, metav1.ConditionFalse, "ImsiForbidden")
		st, msg := argoHealth(script("health-sim.lua"), get(bad)())
		Expect(st).To(Equal("Degraded"))
		Expect(msg).To(ContainSubstring("imsi_forbidden"))

		dup := newSIM(nsSpecB, "argo-duplicate", ok.Spec.IMSI)
		Expect(k8sClient.Create(ctx, dup)).To(Succeed())
		waitForCondition(dup, v1alpha1.ConditionReady, metav1.ConditionFalse, controller.ReasonDuplicateSIM)
		Expect(health(dup)).To(Equal("Degraded"))

		imsi := newIMSI()
		sim.SetFaults(simulator.Faults{Only: "/sim/" + imsi, FailNext: 1000})
		retrying := newSIM(nsSpec, "argo-retrying", imsi)
		Expect(k8sClient.Create(ctx, retrying)).To(Succeed())
		waitForCondition(retrying, v1alpha1.ConditionSynced, metav1.ConditionFalse, "ServiceUnavailable")
		st, msg = argoHealth(script("health-sim.lua"), get(retrying)())
		Expect(st).To(Equal("Degraded"))
		Expect(msg).To(HavePrefix("retrying: ServiceUnavailable"))
	})

	It("judges SMSMessages: Healthy when sent, Degraded when refused or unknown, Progressing while waiting", func() {
		health := func(m *v1alpha1.SMSMessage) string {
			st, _ := argoHealth(script("health-smsmessage.lua"), get(m)())
			return st
		}

		sent := newSMS(nsSMS, "argo-sent")
		Expect(k8sClient.Create(ctx, sent)).To(Succeed())
		waitForSent(sent, metav1.ConditionTrue, controller.ReasonAccepted)
		Expect(health(sent)).To(Equal("Healthy"))

		refused := newSMS(nsSMS, "argo-refused")
		sim.SetFaults(simulator.Faults{Only: "/sms/" + refused.Spec.To, FailNext: 1, FailStatus: 400, FailCode: "to_invalid"})
		Expect(k8sClient.Create(ctx, refused)).To(Succeed())
		waitForSent(refused, metav1.ConditionFalse, "ToInvalid")
		Expect(health(refused)).To(Equal("Degraded"))

		unknown := newSMS(nsSMS, "argo-unknown")
		sim.SetFaults(simulator.Faults{Only: "/sms/" + unknown.Spec.To, DropNext: 1})
		Expect(k8sClient.Create(ctx, unknown)).To(Succeed())
		waitForSent(unknown, metav1.ConditionUnknown, controller.ReasonDeliveryUnknown)
		Expect(health(unknown)).To(Equal("Degraded"))

		waiting := newSMS(nsSMS, "argo-waiting")
		waiting.Spec.To, waiting.Spec.SIMRef = "", &v1alpha1.LocalSIMReference{Name: "argo-no-such-sim"}
		Expect(k8sClient.Create(ctx, waiting)).To(Succeed())
		waitForSent(waiting, metav1.ConditionFalse, controller.ReasonSIMNotFound)
		Expect(health(waiting)).To(Equal("Progressing"))
	})
})

var _ = Describe("GitOps: no perpetual OutOfSync", func() {
	It("leaves the applied spec as written, plus schema defaults, and adds only its finalizer", func() {
		manifest := []byte(`
apiVersion: onomondo.sim-operator.dev/v1alpha1
kind: SIM
metadata:
  name: gitops
  namespace: spec
  labels: {fleet: trackers}
  annotations: {team: iot}
spec:
  imsi: "238739999000001"
  voice: false
`)
		u := object("SIM", "gitops", nil)
		Expect(yaml.Unmarshal(manifest, &u.Object)).To(Succeed())
		Expect(k8sClient.Patch(ctx, u, client.Apply, client.FieldOwner("argocd"))).To(Succeed()) //nolint:staticcheck
		s := &v1alpha1.SIM{}
		s.Namespace, s.Name = nsSpec, "gitops"
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Eventually(func() []string { return get(s)().GetFinalizers() }, 5*time.Second).Should(Equal([]string{controller.Finalizer}))

		Expect(s.Spec).To(Equal(v1alpha1.SIMSpec{
			IMSI: "238739999000001", SIMSettings: v1alpha1.SIMSettings{Voice: ptr.To(false)}, // as written: the rest is not managed
			ManagedPolicies: v1alpha1.ManagedPolicies{DeletionPolicy: v1alpha1.DeletionPolicyDelete, ManagementPolicy: v1alpha1.ManagementPolicyManage},
		}))
		Expect(s.Labels).To(Equal(map[string]string{"fleet": "trackers"}))
		Expect(s.Annotations).To(Equal(map[string]string{"team": "iot"}))

		By("re-applying the same manifest changes nothing: no generation bump, no diff")
		gen := s.Generation
		u = object("SIM", "gitops", nil)
		Expect(yaml.Unmarshal(manifest, &u.Object)).To(Succeed())
		Expect(k8sClient.Patch(ctx, u, client.Apply, client.FieldOwner("argocd"))).To(Succeed()) //nolint:staticcheck
		Expect(get(s)().GetGeneration()).To(Equal(gen))
		for _, mf := range s.ManagedFields {
			if mf.Manager != "argocd" && mf.Subresource == "" {
				Expect(strings.Contains(string(mf.FieldsV1.Raw), `"f:spec"`)).To(BeFalse(), "%s writes spec", mf.Manager)
			}
		}
	})
})
