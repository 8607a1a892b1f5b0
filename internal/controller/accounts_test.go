package controller_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/simulator"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

// Tenants of the accounts specs: a and b have an Account each (two
// organisations, two simulators); b is selected by the ClusterAccount, c is not.
const (
	nsTenantA = "tenant-a"
	nsTenantB = "tenant-b"
	nsTenantC = "tenant-c"
)

var _ = Describe("Accounts and tenancy", Ordered, func() {
	var orgA, orgB *testutil.SimServer

	account := func(ns, name string, org *testutil.SimServer, secret string) *v1alpha1.Account {
		return &v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: v1alpha1.AccountSpec{
			APIURL: org.URL(), CABundle: string(org.CAPEM), Rate: 100, Burst: 100,
			APIKeySecretRef: v1alpha1.SecretKeyReference{Name: secret}}}
	}
	keySecret := func(ns, name, key string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: map[string]string{"apiKey": key}}
	}
	simIn := func(ns, name, imsi string, ref *v1alpha1.AccountReference) *v1alpha1.SIM {
		s := newSIM(ns, name, imsi)
		s.Spec.AccountRef = ref
		return s
	}
	orgCalls := func(org *testutil.SimServer, imsi string) []string {
		var out []string
		for _, r := range org.Requests() {
			if r.Path == "/sim/"+imsi {
				out = append(out, r.Method)
			}
		}
		return out
	}

	BeforeAll(func() {
		var err error
		orgA, err = testutil.StartSimulator(simulator.Options{APIKey: "org-a-key"})
		Expect(err).NotTo(HaveOccurred())
		orgB, err = testutil.StartSimulator(simulator.Options{APIKey: "org-b-key"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(orgA.Close)
		DeferCleanup(orgB.Close)
		for _, ns := range []*corev1.Namespace{
			{ObjectMeta: metav1.ObjectMeta{Name: nsTenantA}},
			{ObjectMeta: metav1.ObjectMeta{Name: nsTenantB, Labels: map[string]string{"sims.example.com/shared": "true"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: nsTenantC}},
		} {
			Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		}
		for _, obj := range []client.Object{
			keySecret(nsTenantA, "org-a", "org-a-key"), keySecret(nsTenantB, "org-b", "org-b-key"),
			account(nsTenantA, "a", orgA, "org-a"), account(nsTenantB, "b", orgB, "org-b"),
			&v1alpha1.ClusterAccount{ObjectMeta: metav1.ObjectMeta{Name: "shared"}, Spec: v1alpha1.ClusterAccountSpec{
				AccountSpec: v1alpha1.AccountSpec{APIURL: orgB.URL(), CABundle: string(orgB.CAPEM), Rate: 100, Burst: 100,
					APIKeySecretRef: v1alpha1.SecretKeyReference{Name: "org-b", Namespace: nsTenantB}},
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"sims.example.com/shared": "true"}}}},
		} {
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		}
		mctx, stop := context.WithCancel(ctx)
		DeferCleanup(stop)
		startManagerWith(mctx, func(o *app.Options) {
			o.SyncPeriod, o.WatchNamespaces = time.Hour, []string{nsTenantA, nsTenantB, nsTenantC}
			o.AccountKeyRefresh = 200 * time.Millisecond
		})
	})

	It("keeps two organisations apart: the same IMSI through two accounts is two SIMs, not a duplicate", func() {
		imsi := newIMSI()
		a := createReady(simIn(nsTenantA, "tracker", imsi, &v1alpha1.AccountReference{Kind: "Account", Name: "a"}))
		b := createReady(simIn(nsTenantB, "tracker", imsi, &v1alpha1.AccountReference{Kind: "Account", Name: "b"}))
		Expect(orgCalls(orgA, imsi)).To(Equal([]string{"POST"}))
		Expect(orgCalls(orgB, imsi)).To(Equal([]string{"POST"}))
		Expect(calls(imsi)).To(BeEmpty(), "the default account was called")
		Expect(a.Status.Binding.IMSI).To(Equal(imsi))
		Expect(b.Status.Binding.IMSI).To(Equal(imsi))

		By("the Accounts say Ready and count their resources")
		acct := &v1alpha1.Account{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: nsTenantA, Name: "a"}, acct)).To(Succeed())
			g.Expect(meta.IsStatusConditionTrue(acct.Status.Conditions, v1alpha1.ConditionReady)).To(BeTrue())
		}, 10*time.Second).Should(Succeed())
	})

	It("refuses another namespace's Account, and a ClusterAccount that does not select the namespace, with no call", func() {
		imsi := newIMSI()
		foreign := simIn(nsTenantA, "foreign", imsi, &v1alpha1.AccountReference{Kind: "Account", Name: "b", Namespace: nsTenantB})
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		waitForCondition(foreign, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonAccountNotAllowed)

		excluded := simIn(nsTenantC, "excluded", imsi, &v1alpha1.AccountReference{Kind: "ClusterAccount", Name: "shared"})
		Expect(k8sClient.Create(ctx, excluded)).To(Succeed())
		waitForCondition(excluded, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonAccountNotAllowed)
		Consistently(func() []string { return append(orgCalls(orgA, imsi), orgCalls(orgB, imsi)...) }, 700*time.Millisecond).Should(BeEmpty())
		Expect(calls(imsi)).To(BeEmpty())

		By("a selected namespace uses the ClusterAccount")
		selected := createReady(simIn(nsTenantB, "selected", imsi, &v1alpha1.AccountReference{Kind: "ClusterAccount", Name: "shared"}))
		Expect(orgCalls(orgB, imsi)).To(Equal([]string{"POST"}))
		Expect(selected.Finalizers).To(ContainElement(controller.Finalizer))
	})

	It("sends an SMS and manages a Connector through their account", func() {
		m := newSMS(nsTenantA, "through-a")
		m.Spec.AccountRef = &v1alpha1.AccountReference{Kind: "Account", Name: "a"}
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		waitForSent(m, metav1.ConditionTrue, controller.ReasonAccepted)
		Expect(orgA.SMS()).To(ContainElement(HaveField("Text", m.Spec.Text)))
		Expect(accepted(m.Spec.Text)).To(BeZero(), "the default account sent it")

		c := &v1alpha1.Connector{ObjectMeta: metav1.ObjectMeta{Namespace: nsTenantB, Name: "hook"}, Spec: v1alpha1.ConnectorSpec{
			ID: "tenant-b-hook", Config: runtime.RawExtension{Raw: []byte(`{"type":"webhook"}`)},
			ManagedPolicies: v1alpha1.ManagedPolicies{AccountRef: &v1alpha1.AccountReference{Kind: "Account", Name: "b"}}}}
		createReady(c)
		_, inB := orgB.Connector("tenant-b-hook")
		_, inDefault := sim.Connector("tenant-b-hook")
		Expect(inB).To(BeTrue())
		Expect(inDefault).To(BeFalse())
	})

	It("refuses, at admission, moving a bound SIM to another account", func() {
		s := createReady(simIn(nsTenantA, "bound-to-a", newIMSI(), &v1alpha1.AccountReference{Kind: "Account", Name: "a"}))
		Expect(update(s, func(s *v1alpha1.SIM) { s.Spec.AccountRef = nil })).
			To(MatchError(ContainSubstring("spec.accountRef cannot change once the SIM is bound")))
	})

	It("takes a rotated key of one account within seconds", func() {
		imsi := newIMSI()
		s := createReady(simIn(nsTenantA, "rotating", imsi, &v1alpha1.AccountReference{Kind: "Account", Name: "a"}))
		orgA.SetAPIKey("org-a-key-2")
		DeferCleanup(func() { orgA.SetAPIKey("org-a-key") })
		Expect(update(s, func(s *v1alpha1.SIM) { s.Spec.Voice = ptr.To(false) })).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonCredentialsRejected)
		By("the Account says the API refuses its key")
		acct := &v1alpha1.Account{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: nsTenantA, Name: "a"}, acct)).To(Succeed())
		acct.Annotations = map[string]string{"test/touch": time.Now().String()} // a change wakes its reconcile now, not in a minute
		Expect(k8sClient.Update(ctx, acct)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: nsTenantA, Name: "a"}, acct)).To(Succeed())
			c := meta.FindStatusCondition(acct.Status.Conditions, v1alpha1.ConditionReady)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(controller.ReasonCredentialsRejected))
		}, 10*time.Second, 50*time.Millisecond).Should(Succeed())

		secret := keySecret(nsTenantA, "org-a", "org-a-key-2")
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionTrue, controller.ReasonReconcileSuccess)
		v, _ := orgA.SIM(imsi)
		Expect(v.Voice).To(BeFalse())
		Expect(k8sClient.Update(ctx, keySecret(nsTenantA, "org-a", "org-a-key"))).To(Succeed())
	})

	It("keeps the finalizer and deletes nothing while a SIM's account is gone", func() {
		doomed := account(nsTenantB, "doomed", orgB, "org-b")
		Expect(k8sClient.Create(ctx, doomed)).To(Succeed())
		imsi := newIMSI()
		s := createReady(simIn(nsTenantB, "orphaned-account", imsi, &v1alpha1.AccountReference{Kind: "Account", Name: "doomed"}))
		Expect(k8sClient.Delete(ctx, doomed)).To(Succeed())
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonAccountNotFound)
		Expect(s.Finalizers).To(ContainElement(controller.Finalizer))
		Consistently(func() []string { return orgCalls(orgB, imsi) }, 700*time.Millisecond).Should(Equal([]string{"POST"}))

		By("the account coming back lets the deletion finish through it")
		doomed = account(nsTenantB, "doomed", orgB, "org-b")
		Expect(k8sClient.Create(ctx, doomed)).To(Succeed())
		Eventually(func() bool { return isGone(s) }, 20*time.Second).Should(BeTrue())
		Expect(orgCalls(orgB, imsi)).To(Equal([]string{"POST", "DELETE"}))
	})
})
