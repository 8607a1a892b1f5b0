package controller_test

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/simulator"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

// Namespaces of the hardening specs: one the default account serves only
// while it carries the installer's label, one it serves always.
const (
	nsHard      = "hard"
	nsHardGated = "hard-gated"
	allowLabel  = "sims.example.com/default-account"
)

// A hostile tenant, a broken API: one tenant's API, key or bad answer can
// never freeze, confuse or leak into another's.
var _ = Describe("Hardening", Ordered, func() {
	var org *testutil.SimServer // the organisation of Account "h" in nsHard
	h := &v1alpha1.AccountReference{Kind: "Account", Name: "h"}

	orgCalls := func(imsi string) []string {
		var out []string
		for _, r := range org.Requests() {
			if r.Path == "/sim/"+imsi {
				out = append(out, r.Method)
			}
		}
		return out
	}
	inAccount := func(s *v1alpha1.SIM) *v1alpha1.SIM { s.Spec.AccountRef = h; return s }

	BeforeAll(func() {
		var err error
		org, err = testutil.StartSimulator(simulator.Options{APIKey: "org-h-key"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(org.Close)
		for _, obj := range []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsHard, Labels: map[string]string{allowLabel: "allowed"}}},
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsHardGated}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsHard, Name: "org-h"}, StringData: map[string]string{"apiKey": "org-h-key"}},
			&v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: nsHard, Name: "h"}, Spec: v1alpha1.AccountSpec{
				APIURL: org.URL(), CABundle: string(org.CAPEM), Rate: 100, Burst: 100,
				APIKeySecretRef: v1alpha1.SecretKeyReference{Name: "org-h"}}},
		} {
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		}
		// One worker: a call held by one account's rate limit would hold every other.
		startManagerWith(ctx, func(o *app.Options) {
			o.WatchNamespaces = []string{nsHard, nsHardGated}
			o.SyncPeriod = time.Hour
			o.MaxConcurrentReconciles = 1
			o.APIMaxRetryAfter = 2 * time.Minute
			o.DefaultAccountNamespaceSelector = allowLabel + "=allowed"
		})
	})
	AfterAll(func() { sim.SetFaults(simulator.Faults{}) })

	It("serves with the default account only the namespaces its selector names, and wakes refusals when labels change", func() {
		By("a namespace without the label: AccountNotAllowed, naming how to allow it, and no call")
		imsi := newIMSI()
		s := newSIM(nsHardGated, "gated", imsi)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonAccountNotAllowed)
		Expect(condition(s, v1alpha1.ConditionSynced).Message).To(ContainSubstring("--default-account-namespace-selector"))
		Consistently(func() []simulator.Request { return calls(imsi) }, time.Second).Should(BeEmpty())

		By("the installer's label on the namespace: the refusal wakes up, with no spec change")
		setLabel(nsHardGated, "allowed")
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200"}))

		By("the label gone, a deletion waits, keeping its finalizer, and nothing is deleted")
		setLabel(nsHardGated, "")
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonAccountNotAllowed) // the manager saw the label go
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonAccountNotAllowed)
		Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200"}))

		By("the label back: the deletion goes ahead")
		setLabel(nsHardGated, "allowed")
		Eventually(func() bool { return isGone(s) }, 20*time.Second).Should(BeTrue())
		Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200", "DELETE 200"}))
	})

	It("never lets a number typed into a bound resource claim another resource's SIM", func() {
		numbered := func(name, msisdn string) *v1alpha1.SIM {
			s := inAccount(newSIM(nsHard, name, newIMSI()))
			s.Spec.MSISDN = msisdn
			s = createReady(s)
			Expect(s.Status.Binding.MSISDN).To(Equal(msisdn))
			return s
		}
		a, b := numbered("number-a", "4571000001"), numbered("number-b", "4571000002")
		before := len(orgCalls(a.Spec.IMSI))

		By("b's number typed into a: IdentityMismatch, and no call for a")
		Expect(update(a, func(s *v1alpha1.SIM) { s.Spec.MSISDN = "4571000002" })).To(Succeed())
		waitForCondition(a, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonIdentityMismatch)
		Expect(condition(a, v1alpha1.ConditionSynced).Message).To(ContainSubstring("waits until no other resource claims it"))
		Consistently(func() int { return len(orgCalls(a.Spec.IMSI)) }, time.Second).Should(Equal(before))

		By("b is untouched: Ready, not a duplicate, its SIM's number unchanged")
		Consistently(func() string {
			get(b)()
			return condition(b, v1alpha1.ConditionReady).Reason + "/" + condition(b, v1alpha1.ConditionSynced).Reason
		}, time.Second).Should(Equal(controller.ReasonAvailable + "/" + controller.ReasonReconcileSuccess))
		got, _ := org.SIM(b.Spec.IMSI)
		Expect(got.MSISDN).To(Equal("4571000002"))
		got, _ = org.SIM(a.Spec.IMSI)
		Expect(got.MSISDN).To(Equal("4571000001"))

		By("b deleted, with its SIM: the number is free, and a's change goes through with one PUT")
		Expect(k8sClient.Delete(ctx, b)).To(Succeed())
		Eventually(func() bool { return isGone(b) }, 20*time.Second).Should(BeTrue())
		waitForCondition(a, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(orgCalls(a.Spec.IMSI)[before:]).To(Equal([]string{"PUT"}))
		got, _ = org.SIM(a.Spec.IMSI)
		Expect(got.MSISDN).To(Equal("4571000002"))
	})

	It("turns a hostile error answer into a valid reason and a bounded message, one call per generation", func() {
		imsi := newIMSI()
		org.SetFaults(simulator.Faults{Only: "/sim/" + imsi, AnswerNext: 100, Answer: simulator.Answer{Status: 400,
			Body: `{"error":"bad code! <` + strings.Repeat("x", 2000) + `>","message":"` + strings.Repeat("ø", 20000) + `"}`}})
		DeferCleanup(func() { org.SetFaults(simulator.Faults{}) })
		s := inAccount(newSIM(nsHard, "hostile", imsi))
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, "BadRequest")
		Expect(s.Status.LastError.Terminal).To(BeTrue())
		Expect(len(s.Status.LastError.Message)).To(BeNumerically("<=", 1024))
		Expect(len(condition(s, v1alpha1.ConditionSynced).Message)).To(BeNumerically("<=", 1024))
		Consistently(func() []string { return orgCalls(imsi) }, 1500*time.Millisecond).Should(Equal([]string{"POST"}))
	})

	It("never takes a 200 that is not the SIM asked for as an observation", func() {
		imsi := newIMSI()
		org.PutSIM(simulator.SIM{IMSI: imsi, Voice: false, SMS: true, Data: true})
		org.SetFaults(simulator.Faults{Only: "/sim/" + imsi, AnswerNext: 1000, Answer: simulator.Answer{Body: "null"}})
		s := inAccount(newSIM(nsHard, "invalid-answer", imsi))
		s.Annotations = map[string]string{v1alpha1.AnnotationObserveFirst: "true"}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonResponseInvalid)
		Expect(condition(s, v1alpha1.ConditionReady)).To(Or(BeNil(), HaveField("Status", metav1.ConditionFalse)))
		Expect(orgCalls(imsi)).NotTo(ContainElement("PUT"))

		By("another SIM in the answer is no observation either")
		org.SetFaults(simulator.Faults{Only: "/sim/" + imsi, AnswerNext: 1000,
			Answer: simulator.Answer{Body: `{"imsi":"238739999999999","voice":true,"sms":true,"data":true}`}})
		Consistently(func() []string { get(s)(); return orgCalls(imsi) }, time.Second).ShouldNot(ContainElement("PUT"))
		Expect(s.Status.Binding).To(BeNil())

		By("the real SIM answered: bound, then the spec applied")
		org.SetFaults(simulator.Faults{})
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(s.Status.Binding.IMSI).To(Equal(imsi))
	})

	It("refuses at admission an apiURL with user info, a query or a fragment, and an oversized caBundle", func() {
		for _, url := range []string{"https://user:pw@api.example.com", "https://api.example.com/?x=1", "https://api.example.com/#f", "http://api.example.com"} {
			a := &v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: nsHard, Name: "bad-url"}, Spec: v1alpha1.AccountSpec{
				APIURL: url, APIKeySecretRef: v1alpha1.SecretKeyReference{Name: "org-h"}}}
			Expect(k8sClient.Create(ctx, a)).To(MatchError(ContainSubstring("apiURL")), url)
		}
		a := &v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: nsHard, Name: "big-ca"}, Spec: v1alpha1.AccountSpec{
			CABundle: strings.Repeat("x", 70000), APIKeySecretRef: v1alpha1.SecretKeyReference{Name: "org-h"}}}
		Expect(k8sClient.Create(ctx, a)).To(MatchError(ContainSubstring("caBundle")))
	})

	It("refuses at admission a change of a bound Connector's accountRef", func() {
		c := &v1alpha1.Connector{ObjectMeta: metav1.ObjectMeta{Namespace: nsHard, Name: "bound-conn"},
			Spec: v1alpha1.ConnectorSpec{ID: "hard-conn", ManagedPolicies: v1alpha1.ManagedPolicies{AccountRef: h}}}
		c.Spec.Config.Raw = []byte(`{"type":"webhook","url":"https://example.com"}`)
		Expect(k8sClient.Create(ctx, c)).To(Succeed())
		waitForCondition(c, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(update(c, func(c *v1alpha1.Connector) { c.Spec.AccountRef = nil })).
			To(MatchError(ContainSubstring("spec.accountRef cannot change once the Connector is bound")))
		Expect(update(c, func(c *v1alpha1.Connector) {
			c.Spec.AccountRef = &v1alpha1.AccountReference{Kind: "Account", Name: "other"}
		})).
			To(MatchError(ContainSubstring("spec.accountRef cannot change")))
	})

	It("sends the key to the account's apiURL only: a redirect, even to the same host, is an error naming it", func() {
		var leaked []string
		target := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			leaked = append(leaked, r.Header.Get("Authorization"))
		}))
		DeferCleanup(target.Close)
		redirector := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}))
		DeferCleanup(redirector.Close)
		Expect(k8sClient.Create(ctx, &v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: nsHard, Name: "redirected"},
			Spec: v1alpha1.AccountSpec{APIURL: redirector.URL, CABundle: string(pemOf(redirector)), Rate: 100, Burst: 100,
				APIKeySecretRef: v1alpha1.SecretKeyReference{Name: "org-h"}}})).To(Succeed())
		s := newSIM(nsHard, "redirected", newIMSI())
		s.Spec.AccountRef = &v1alpha1.AccountReference{Kind: "Account", Name: "redirected"}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonAPIRedirected)
		Expect(condition(s, v1alpha1.ConditionSynced).Message).To(ContainSubstring(target.URL))
		Expect(leaked).To(BeEmpty())
	})

	It("ends a deletion that found nothing to delete as AlreadyGone, not Deleted", func() {
		s := createReady(inAccount(newSIM(nsHard, "already-gone", newIMSI())))
		Expect(org.DeleteSIMOutOfBand(s.Spec.IMSI)).To(BeTrue())
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		Eventually(func() bool { return isGone(s) }, 20*time.Second).Should(BeTrue())
		eventuallyEvents(s, controller.ReasonAlreadyGone)
		Expect(eventReasons(s)).NotTo(ContainElement("Deleted"))
	})

	// Last: it holds the default account of this manager for two minutes.
	It("caps a day-long Retry-After and parks only that account's resources", func() {
		held := newIMSI()
		sim.SetFaults(simulator.Faults{Only: "/sim/" + held, AnswerNext: 1, Answer: simulator.Answer{Status: 429,
			Headers: map[string]string{"Retry-After": "86400"}, Body: `{"error":"rate_limited"}`}})
		s := newSIM(nsHard, "told-to-wait-a-day", held)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, "RateLimited")
		Expect(condition(s, v1alpha1.ConditionSynced).Message).To(And(ContainSubstring("24h0m0s"), ContainSubstring("2m0s")))

		By("the same account's next resource waits without a call")
		other := newIMSI()
		o := newSIM(nsHard, "same-account", other)
		Expect(k8sClient.Create(ctx, o)).To(Succeed())
		waitForCondition(o, v1alpha1.ConditionSynced, metav1.ConditionFalse, "RateLimited")
		Expect(calls(other)).To(BeEmpty())

		By("another account's spec change reaches its API within seconds, on the one worker")
		b := createReady(inAccount(newSIM(nsHard, "other-account", newIMSI())))
		n := len(orgCalls(b.Spec.IMSI))
		Expect(update(b, func(s *v1alpha1.SIM) { s.Spec.Voice = new(bool) })).To(Succeed())
		Eventually(func() int { return len(orgCalls(b.Spec.IMSI)) }, 5*time.Second).Should(BeNumerically(">", n))
		waitForCondition(b, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
	})
})

// pemOf is a test server's certificate as PEM.
func pemOf(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// setLabel sets (or, empty, removes) the allow label of nsHardGated.
func setLabel(ns, value string) {
	var n corev1.Namespace
	Expect(k8sClient.Get(ctx, client.ObjectKey{Name: ns}, &n)).To(Succeed())
	base := n.DeepCopy()
	if value == "" {
		delete(n.Labels, allowLabel)
	} else {
		n.Labels[allowLabel] = value
	}
	Expect(k8sClient.Patch(ctx, &n, client.MergeFrom(base))).To(Succeed())
}
