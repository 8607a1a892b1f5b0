package controller_test

import (
	"encoding/json"
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
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/simulator"
)

// argoHealth runs an Argo CD health script, as Argo CD does with gopher-lua:
// the live object as the global obj, the returned table's status and message.
func argoHealth(script string, obj client.Object) (status, message string) {
	L := luaWith(obj)
	defer L.Close()
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

// argoActions runs the actions' discovery.lua: each action and whether it is enabled.
func argoActions(obj client.Object) map[string]bool {
	L := luaWith(obj)
	defer L.Close()
	Expect(L.DoString(script("actions/discovery.lua"))).To(Succeed())
	out := map[string]bool{}
	L.Get(-1).(*lua.LTable).ForEach(func(k, v lua.LValue) {
		out[k.String()] = v.(*lua.LTable).RawGetString("disabled") != lua.LTrue
	})
	return out
}

// runArgoAction runs an action's Lua on the live object and writes the
// annotations it returns, as Argo CD patches the resource.
func runArgoAction(name string, obj client.Object) {
	L := luaWith(get(obj)())
	defer L.Close()
	Expect(L.DoString(script("actions/" + name + ".lua"))).To(Succeed())
	annotations := map[string]any{}
	if meta, ok := L.Get(-1).(*lua.LTable).RawGetString("metadata").(*lua.LTable); ok {
		if a, ok := meta.RawGetString("annotations").(*lua.LTable); ok {
			a.ForEach(func(k, v lua.LValue) { annotations[k.String()] = v.String() })
		}
	}
	for k := range obj.GetAnnotations() {
		if _, kept := annotations[k]; !kept {
			annotations[k] = nil
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
}

// luaWith is a Lua state, as Argo CD's, with the object as the global obj.
func luaWith(obj client.Object) *lua.LState {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	L := lua.NewState()
	L.SetGlobal("obj", toLua(L, u))
	return L
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
		const prefix = "resource.customizations."
		Expect(cm.Data).To(HaveKeyWithValue(prefix+"health.onomondo.sim-operator.dev_SIM", script("health-managed.lua")))
		Expect(cm.Data).To(HaveKeyWithValue(prefix+"health.onomondo.sim-operator.dev_Connector", script("health-managed.lua")))
		Expect(cm.Data).To(HaveKeyWithValue(prefix+"health.onomondo.sim-operator.dev_SMSMessage", script("health-smsmessage.lua")))
		for _, kind := range []string{"SIM", "Connector"} {
			var actions struct {
				Discovery   string `json:"discovery.lua"`
				Definitions []struct {
					Name   string `json:"name"`
					Action string `json:"action.lua"`
				} `json:"definitions"`
			}
			Expect(yaml.Unmarshal([]byte(cm.Data[prefix+"actions.onomondo.sim-operator.dev_"+kind]), &actions)).To(Succeed())
			Expect(actions.Discovery).To(Equal(script("actions/discovery.lua")))
			Expect(actions.Definitions).To(HaveLen(3))
			for _, d := range actions.Definitions {
				Expect(d.Action).To(Equal(script("actions/"+d.Name+".lua")), d.Name)
			}
		}
	})

	It("offers sync-now, pause and resume, which the operator honours", func() {
		imsi := newIMSI()
		s := createReady(newSIM(nsSpec, "argo-actions", imsi))
		Expect(argoActions(get(s)())).To(Equal(map[string]bool{"sync-now": true, "pause": true, "resume": false}))

		By("sync-now: one immediate read, recorded as handled")
		before := len(calls(imsi))
		runArgoAction("sync-now", s)
		Eventually(func() string { return get(s)().(*v1alpha1.SIM).Status.LastHandledRequestedAt }, 10*time.Second).
			Should(Equal(s.Annotations[v1alpha1.AnnotationRequestedAt]))
		Expect(verbs(calls(imsi)[before:])).To(Equal([]string{"GET 200"}))

		By("pause: Suspended in Argo CD, no call even for a spec change")
		runArgoAction("pause", s)
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonReconcilePaused)
		Expect(argoActions(get(s)())).To(Equal(map[string]bool{"sync-now": false, "pause": false, "resume": true}))
		st, _ := argoHealth(script("health-managed.lua"), get(s)())
		Expect(st).To(Equal("Suspended"))
		before = len(calls(imsi))
		Expect(update(s, func(s *v1alpha1.SIM) { s.Spec.Voice = ptr.To(false) })).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonReconcilePaused)
		Consistently(func() int { return len(calls(imsi)) }, 700*time.Millisecond).Should(Equal(before))

		By("resume: the spec change goes out")
		runArgoAction("resume", s)
		Eventually(func() bool { return simState(imsi).Voice }, 10*time.Second).Should(BeFalse())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionTrue, controller.ReasonReconcileSuccess)
	})

	It("judges SIMs: Healthy, Degraded whenever Synced is False (terminal errors, duplicates, retries)", func() {
		health := func(s *v1alpha1.SIM) string { st, _ := argoHealth(script("health-managed.lua"), get(s)()); return st }

		fresh := newSIM(nsSpec, "argo-fresh", newIMSI()) // as applied, before the operator writes status
		st, _ := argoHealth(script("health-managed.lua"), fresh)
		Expect(st).To(Equal("Progressing"))

		ok := newSIM(nsSpec, "argo-healthy", newIMSI())
		Expect(k8sClient.Create(ctx, ok)).To(Succeed())
		waitForCondition(ok, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(health(ok)).To(Equal("Healthy"))

		bad := newSIM(nsSpec, "argo-forbidden", "999000000000555")
		Expect(k8sClient.Create(ctx, bad)).To(Succeed())
		waitForCondition(bad, v1alpha1.ConditionSynced, metav1.ConditionFalse, "ImsiForbidden")
		st, msg := argoHealth(script("health-managed.lua"), get(bad)())
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
		st, msg = argoHealth(script("health-managed.lua"), get(retrying)())
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
