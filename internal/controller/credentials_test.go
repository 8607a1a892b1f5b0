package controller_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/simulator"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

// nsCredsMissing has a manager started before its key Secret exists.
const nsCredsMissing = "creds-missing"

// nsCreds has a manager of its own that reads its key from a Secret and
// talks to a simulator of its own, whose key the spec revokes.
const nsCreds = "creds"

// syncedGauge reads sim_operator_resources_synced for SIMs with this reason.
func syncedGauge(reason string) float64 {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "sim_operator_resources_synced" {
			continue
		}
		for _, m := range f.GetMetric() {
			if labels(m)["kind"] == "SIM" && labels(m)["reason"] == reason {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

var _ = Describe("Credentials (case 7)", func() {
	AfterEach(func() { sim.SetFaults(simulator.Faults{}) })

	It("treats a rejected key as never terminal: retried, shown, counted, and Degraded in Argo CD", func() {
		imsi := newIMSI()
		sim.SetFaults(simulator.Faults{Only: "/sim/" + imsi, FailNext: 1000, FailStatus: 403, FailCode: "key_revoked"})
		s := newSIM(nsSpec, "creds-403", imsi)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonCredentialsRejected)
		Expect(s.Status.LastError.Terminal).To(BeFalse())
		Expect(s.Status.LastError.Code).To(Equal("key_revoked"))
		Eventually(func() int { return len(calls(imsi)) }, 5*time.Second).Should(BeNumerically(">=", 3), "retried with backoff")
		Eventually(func() float64 { return syncedGauge(controller.ReasonCredentialsRejected) }, 5*time.Second).Should(BeNumerically(">=", 1))
		st, _ := argoHealth(script("health-managed.lua"), get(s)())
		Expect(st).To(Equal("Degraded"))

		sim.SetFaults(simulator.Faults{})
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
	})

	It("retries at once, without waiting for a backoff, when the key in the Secret changes", func() {
		own, err := testutil.StartSimulator(simulator.Options{APIKey: "creds-key-1"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(own.Close)
		ca := filepath.Join(GinkgoT().TempDir(), "own-ca.pem")
		Expect(os.WriteFile(ca, own.CAPEM, 0o600)).To(Succeed())
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsCreds, Name: "onomondo-api-key"},
			StringData: map[string]string{"apiKey": "creds-key-1"}}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())

		mctx, stop := context.WithCancel(ctx)
		DeferCleanup(stop)
		startManagerWith(mctx, func(o *app.Options) {
			o.APIURL, o.APICAFile, o.APIKey = own.URL(), ca, ""
			o.APIKeySecret = nsCreds + "/onomondo-api-key"
			o.SyncPeriod, o.WatchNamespaces = 2*time.Second, []string{nsCreds}
			o.MinBackoff, o.MaxBackoff = time.Minute, 5*time.Minute // only a key change retries within the spec
		})
		inSync := newSIM(nsCreds, "in-sync", newIMSI())
		changing := newSIM(nsCreds, "changing", newIMSI())
		for _, s := range []*v1alpha1.SIM{inSync, changing} {
			createReady(s)
		}

		By("revoking the key: the drift check and a spec change both fail with CredentialsRejected")
		own.SetAPIKey("creds-key-2")
		Expect(update(changing, func(s *v1alpha1.SIM) { s.Spec.Voice = ptr.To(false) })).To(Succeed())
		waitForCondition(changing, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonCredentialsRejected)
		waitForCondition(inSync, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonCredentialsRejected)
		Expect(condition(inSync, v1alpha1.ConditionReady).Status).To(Equal(metav1.ConditionTrue), "the SIM still matched when last seen")
		st, _ := argoHealth(script("health-managed.lua"), get(inSync)())
		Expect(st).To(Equal("Degraded"), "a stopped drift correction is not Healthy")

		By("putting the new key in the Secret: both recover within seconds, not after the one-minute backoff")
		secret.StringData = map[string]string{"apiKey": "creds-key-2"}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		for _, s := range []*v1alpha1.SIM{inSync, changing} {
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, clientKey(s), s)).To(Succeed())
				c := condition(s, v1alpha1.ConditionSynced)
				g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
				g.Expect(c.ObservedGeneration).To(Equal(s.Generation))
			}, 15*time.Second, 50*time.Millisecond).Should(Succeed())
		}
		v, ok := own.SIM(changing.Spec.IMSI)
		Expect(ok).To(BeTrue())
		Expect(v.Voice).To(BeFalse())
	})

	It("starts without its key Secret, serves probes, says CredentialsMissing, and recovers when the Secret appears", func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		probe := l.Addr().String()
		Expect(l.Close()).To(Succeed())
		mctx, stop := context.WithCancel(ctx)
		DeferCleanup(stop)
		startManagerWith(mctx, func(o *app.Options) {
			o.APIKey, o.APIKeySecret = "", nsCredsMissing+"/onomondo-api-key"
			o.ProbeAddr = probe
			o.SyncPeriod, o.WatchNamespaces = time.Hour, []string{nsCredsMissing}
			o.MinBackoff, o.MaxBackoff = time.Minute, 5*time.Minute // only the Secret appearing retries within the spec
		})
		Eventually(func() (int, error) {
			resp, err := http.Get("http://" + probe + "/readyz")
			if err != nil {
				return 0, err
			}
			defer func() { _ = resp.Body.Close() }()
			return resp.StatusCode, nil
		}, 10*time.Second, 50*time.Millisecond).Should(Equal(http.StatusOK))

		imsi := newIMSI()
		s := newSIM(nsCredsMissing, "waits-for-key", imsi)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonCredentialsMissing)
		Expect(s.Status.LastError.Terminal).To(BeFalse())
		Expect(calls(imsi)).To(BeEmpty(), "nothing is sent without a key")

		By("creating the Secret: the SIM is created within seconds, not after the one-minute backoff")
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsCredsMissing, Name: "onomondo-api-key"},
			StringData: map[string]string{"apiKey": testutil.APIKey}})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, clientKey(s), s)).To(Succeed())
			c := condition(s, v1alpha1.ConditionReady)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(controller.ReasonAvailable), c.Message)
		}, 15*time.Second, 50*time.Millisecond).Should(Succeed())
		Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200"}))
	})
})
