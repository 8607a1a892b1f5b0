package controller_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/simulator"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

const nsCurrent = "current"

// A SIM on an account of Onomondo's current API: read by SIM ID, one PATCH
// of what differs, deactivated on deletion, and the other edition's fields
// refused with no call.
var _ = Describe("SIMs on a Current account", Ordered, func() {
	var org *testutil.SimServer
	cur := &v1alpha1.AccountReference{Kind: "Account", Name: "cur"}
	calls := func(path string) []string {
		var out []string
		for _, r := range org.Requests() {
			if r.Path == path {
				out = append(out, r.Method)
			}
		}
		return out
	}
	simOf := func(name, id string, change func(*v1alpha1.SIM)) *v1alpha1.SIM {
		s := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: name},
			Spec: v1alpha1.SIMSpec{SIMID: id, ManagedPolicies: v1alpha1.ManagedPolicies{AccountRef: cur}}}
		if change != nil {
			change(s)
		}
		return s
	}

	BeforeAll(func() {
		var err error
		org, err = testutil.StartSimulator(simulator.Options{APIKey: "current-key"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(org.Close)
		org.PutTag(simulator.Tag{ID: "t-eu", Name: "fleet-eu", CanWrite: true})
		for _, obj := range []client.Object{
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsCurrent}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: "cur-key"}, StringData: map[string]string{"apiKey": "current-key"}},
			&v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: "cur"}, Spec: v1alpha1.AccountSpec{
				APIURL: org.URL(), CABundle: string(org.CAPEM), Rate: 100, Burst: 100, Edition: v1alpha1.EditionCurrent,
				AuthScheme: "Bearer", APIKeySecretRef: v1alpha1.SecretKeyReference{Name: "cur-key"}}},
		} {
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		}
		startManagerWith(ctx, func(o *app.Options) { o.WatchNamespaces, o.SyncPeriod = []string{nsCurrent}, time.Hour })
	})

	It("binds a SIM by SIM ID with one GET, then PATCHes only the settings that differ", func() {
		org.PutCurrentSIM(simulator.CurrentSIM{ICCID: "89457387300000000103", Label: ptr.To("old"), Activated: true})
		s := simOf("tracker", "000000010", func(s *v1alpha1.SIM) {
			s.Spec.Label, s.Spec.Activated, s.Spec.Tags = ptr.To("truck 7"), ptr.To(true), []string{"fleet-eu"}
			s.Spec.DataLimit = &v1alpha1.DataLimit{Total: resource.MustParse("500Mi")}
		})
		lists := len(calls("/sims"))
		s = createReady(s)
		By("bound from the account's list, not from a GET of its own; then one PATCH")
		Expect(calls("/sims/000000010")).To(Equal([]string{"PATCH"}))
		Expect(len(calls("/sims")) - lists).To(Equal(1))
		Expect(s.Status.Binding.SIMID).To(Equal("000000010"))
		Expect(s.Status.Binding.ICCID).To(Equal("89457387300000000103"))
		got, _ := org.CurrentSIM("000000010")
		Expect(*got.Label).To(Equal("truck 7"))
		Expect(got.TagIDs).To(Equal([]string{"t-eu"}))
		Expect(got.DataLimit["total"]).To(BeEquivalentTo(500 * 1024 * 1024))
		Expect(*s.Status.AtProvider.Label).To(Equal("truck 7"))

		By("a spec change is one PATCH, and nothing when nothing differs")
		Expect(update(s, func(s *v1alpha1.SIM) { s.Spec.Label = ptr.To("") })).To(Succeed())
		Eventually(func() []string { return calls("/sims/000000010") }, 10*time.Second).Should(Equal([]string{"PATCH", "PATCH"}))
		got, _ = org.CurrentSIM("000000010")
		Expect(got.Label).To(BeNil())
		Consistently(func() []string { return calls("/sims/000000010") }, time.Second).Should(HaveLen(2))

		By("deletion (Delete) deactivates the SIM and never removes it")
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		Eventually(func() bool { return isGone(s) }, 10*time.Second).Should(BeTrue())
		got, ok := org.CurrentSIM("000000010")
		Expect(ok).To(BeTrue())
		Expect(got.Activated).To(BeFalse())
	})

	It("says SIMNotFound, with no create, for a SIM the account does not have", func() {
		s := simOf("unknown", "000000099", nil)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonSIMNotFound)
		Expect(s.Status.LastError.Terminal).To(BeTrue())
		// Missing from the account's list: read once by ID before concluding, then nothing more.
		Consistently(func() []string { return calls("/sims/000000099") }, time.Second).Should(Equal([]string{"GET"}))
	})

	It("refuses the other edition's fields, and an unknown tag, with no call", func() {
		org.PutCurrentSIM(simulator.CurrentSIM{ICCID: "89457387300000000204", Activated: true})
		voice := simOf("with-voice", "000000020", func(s *v1alpha1.SIM) { s.Spec.Voice = ptr.To(true) })
		Expect(k8sClient.Create(ctx, voice)).To(Succeed())
		waitForCondition(voice, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonNotInEdition)
		Expect(condition(voice, v1alpha1.ConditionSynced).Message).To(ContainSubstring("spec.voice"))
		Expect(calls("/sims/000000020")).To(BeEmpty())

		byIMSI := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: "by-imsi"},
			Spec: v1alpha1.SIMSpec{IMSI: newIMSI(), ManagedPolicies: v1alpha1.ManagedPolicies{AccountRef: cur}}}
		Expect(k8sClient.Create(ctx, byIMSI)).To(Succeed())
		waitForCondition(byIMSI, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonNotInEdition)

		tagged := simOf("bad-tag", "000000020", func(s *v1alpha1.SIM) { s.Spec.Tags = []string{"nope"} })
		Expect(k8sClient.Create(ctx, tagged)).To(Succeed())
		waitForCondition(tagged, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonTagNotFound)
		// Added to the API after the account's list was read: read once by ID, then nothing more.
		Consistently(func() []string { return calls("/sims/000000020") }, time.Second).Should(Equal([]string{"GET"}))
	})

	It("refuses at admission a SIM ID that is not the ICCID's, and on a Legacy account the current fields", func() {
		bad := simOf("mismatch", "000000011", func(s *v1alpha1.SIM) { s.Spec.ICCID = "89457387300000000103" })
		Expect(k8sClient.Create(ctx, bad)).To(MatchError(ContainSubstring("spec.simId must be the ICCID's digits 11-19")))

		legacy := newSIM(nsSpec, "legacy-label", newIMSI())
		legacy.Spec.Label = ptr.To("x")
		Expect(k8sClient.Create(ctx, legacy)).To(Succeed())
		waitForCondition(legacy, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonNotInEdition)
		Expect(calls("/sim/" + legacy.Spec.IMSI)).To(BeEmpty())
	})

	It("sends an SMSMessage to a Current SIM by its SIM ID, once; a bare number is NotInEdition", func() {
		org.PutCurrentSIM(simulator.CurrentSIM{ICCID: "89457387300000000305", MSISDN: "4570000030", Activated: true})
		s := createReady(simOf("messaged", "000000030", func(s *v1alpha1.SIM) { s.Spec.Activated = ptr.To(true) }))
		m := &v1alpha1.SMSMessage{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: "wake"}, Spec: v1alpha1.SMSMessageSpec{
			SIMRef: &v1alpha1.LocalSIMReference{Name: s.Name}, From: "Fleet", Text: "wake up, 30",
			AccountRef: cur}}
		Expect(k8sClient.Create(ctx, m)).To(Succeed())
		waitForSent(m, metav1.ConditionTrue, controller.ReasonAccepted)
		Expect(m.Status.Recipient).To(Equal("000000030"))
		Expect(calls("/sms/000000030")).To(Equal([]string{"POST"}))
		Expect(org.SMS()).To(ContainElement(HaveField("Text", "wake up, 30")))

		bare := &v1alpha1.SMSMessage{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: "bare"}, Spec: v1alpha1.SMSMessageSpec{
			To: "+4570000031", From: "Fleet", Text: "to a number", AccountRef: cur}}
		Expect(k8sClient.Create(ctx, bare)).To(Succeed())
		waitForSent(bare, metav1.ConditionFalse, controller.ReasonNotInEdition)
		Consistently(func() []simulator.SMS { return org.SMS() }, time.Second).Should(HaveLen(1))
	})

	It("keeps a NetworkList: one POST, a PATCH of the whole list when it differs, a DELETE that waits while SIMs use it", func() {
		l := &v1alpha1.NetworkList{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: "nordics"}, Spec: v1alpha1.NetworkListSpec{
			Networks: []v1alpha1.NetworkRef{{MCC: "238", MNC: "01"}, {MCC: "240"}}, Tags: []string{"fleet-eu"},
			ManagedPolicies: v1alpha1.ManagedPolicies{AccountRef: cur}}}
		l = createReady(l)
		Expect(calls("/network-whitelists")).To(Equal([]string{"POST"}))
		lists := org.NetworkLists()
		Expect(lists).To(HaveLen(1))
		Expect(lists[0].Networks).To(HaveLen(2))
		Expect(lists[0].TagIDs).To(Equal([]string{"t-eu"}))

		By("a changed network list is one PATCH of the whole list")
		Expect(update(l, func(l *v1alpha1.NetworkList) { l.Spec.Networks = l.Spec.Networks[:1] })).To(Succeed())
		Eventually(func() []string { return calls("/network-whitelists/nordics") }, 10*time.Second).Should(Equal([]string{"PATCH"}))
		waitForCondition(l, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(org.NetworkLists()[0].Networks).To(HaveLen(1))

		By("a SIM on the list keeps the deletion waiting (InUse), without a hot loop")
		org.PutCurrentSIM(simulator.CurrentSIM{ICCID: "89457387300000000402", Activated: true, NetworkWhitelist: ptr.To("nordics")})
		Expect(k8sClient.Delete(ctx, l)).To(Succeed())
		waitForCondition(l, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonInUse)
		n := len(calls("/network-whitelists/nordics"))
		time.Sleep(1500 * time.Millisecond)
		// Backoff from 20 ms to the suite's 500 ms cap: a handful of calls, not a loop.
		Expect(len(calls("/network-whitelists/nordics")) - n).To(BeNumerically("<=", 8))

		By("the SIM detached: the deletion goes through")
		org.PutCurrentSIM(simulator.CurrentSIM{ICCID: "89457387300000000402", Activated: true})
		Eventually(func() bool { return isGone(l) }, 30*time.Second).Should(BeTrue())
		Expect(org.NetworkLists()).To(BeEmpty())
	})

	It("refuses a NetworkList on a Legacy account with no call", func() {
		l := &v1alpha1.NetworkList{ObjectMeta: metav1.ObjectMeta{Namespace: nsSpec, Name: "legacy-list"}, Spec: v1alpha1.NetworkListSpec{
			Networks: []v1alpha1.NetworkRef{{MCC: "238"}}}}
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		waitForCondition(l, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonNotInEdition)
	})

	It("keeps a Webhook: one POST ever, found again by listing when a create's answer was lost", func() {
		hook := func(name, url string) *v1alpha1.Webhook {
			return &v1alpha1.Webhook{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: name}, Spec: v1alpha1.WebhookSpec{
				URL: url, Label: name, ExcludeTypes: []v1alpha1.WebhookEventType{"location"},
				ManagedPolicies: v1alpha1.ManagedPolicies{AccountRef: cur}}}
		}
		w := createReady(hook("ops", "https://hooks.example.com/ops"))
		Expect(w.Status.ID).NotTo(BeEmpty())
		Expect(calls("/webhooks")).To(Equal([]string{"GET", "POST"}))

		By("a change is one PATCH by ID")
		Expect(update(w, func(w *v1alpha1.Webhook) { w.Spec.Active = ptr.To(false) })).To(Succeed())
		Eventually(func() []string { return calls("/webhooks/" + w.Status.ID) }, 10*time.Second).Should(Equal([]string{"PATCH"}))
		Expect(org.Webhooks()[0].Active).To(BeFalse())

		By("a create whose answer is lost: the next attempt finds it by listing, no second POST")
		org.SetFaults(simulator.Faults{Only: "/webhooks", DropNext: 1})
		lost := hook("lost", "https://hooks.example.com/lost")
		Expect(k8sClient.Create(ctx, lost)).To(Succeed())
		waitForCondition(lost, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		posts := 0
		for _, m := range calls("/webhooks") {
			if m == "POST" {
				posts++
			}
		}
		Expect(posts).To(Equal(2)) // ops and lost, once each
		Expect(org.Webhooks()).To(HaveLen(2))

		By("deleting it deletes the webhook")
		Expect(k8sClient.Delete(ctx, lost)).To(Succeed())
		Eventually(func() bool { return isGone(lost) }, 10*time.Second).Should(BeTrue())
		Expect(org.Webhooks()).To(HaveLen(1))
	})

	It("adopts many SIMs from the account's list, ceil(N/1000) calls, no GET per SIM", func() {
		big, err := testutil.StartSimulator(simulator.Options{APIKey: "big-key"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(big.Close)
		for i := range 1200 {
			big.PutCurrentSIM(simulator.CurrentSIM{ID: fmt.Sprintf("%09d", 500000+i), ICCID: fmt.Sprintf("89457387300%09d", 500000+i), Activated: true})
		}
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: "big-key"},
			StringData: map[string]string{"apiKey": "big-key"}})).To(Succeed())
		Expect(k8sClient.Create(ctx, &v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: "big"}, Spec: v1alpha1.AccountSpec{
			APIURL: big.URL(), CABundle: string(big.CAPEM), Rate: 100, Burst: 100, Edition: v1alpha1.EditionCurrent,
			APIKeySecretRef: v1alpha1.SecretKeyReference{Name: "big-key"}}})).To(Succeed())
		var sims []*v1alpha1.SIM
		for i := range 40 {
			s := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: fmt.Sprintf("fleet-%d", i)},
				Spec: v1alpha1.SIMSpec{SIMID: fmt.Sprintf("%09d", 500000+i*25), CurrentSettings: v1alpha1.CurrentSettings{Activated: ptr.To(true)},
					ManagedPolicies: v1alpha1.ManagedPolicies{AccountRef: &v1alpha1.AccountReference{Kind: "Account", Name: "big"}}}}
			Expect(k8sClient.Create(ctx, s)).To(Succeed())
			sims = append(sims, s)
		}
		for _, s := range sims {
			waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		}
		var lists, gets int
		for _, r := range big.Requests() {
			switch {
			case r.Path == "/sims":
				lists++
			case strings.HasPrefix(r.Path, "/sims/"):
				gets++
			}
		}
		Expect(lists).To(Equal(2), "1,200 SIMs are two pages")
		Expect(gets).To(BeZero(), "no SIM read on its own")
	})

	It("keeps a Connector with secret options from a Secret: sent, never read back, a changed Secret sent once", func() {
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: "tls-secrets"},
			StringData: map[string]string{"key": "PEM-KEY-1"}})).To(Succeed())
		c := &v1alpha1.Connector{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: "tls"}, Spec: v1alpha1.ConnectorSpec{
			ID: "fleet-tls", SecretRef: &v1alpha1.LocalSecretReference{Name: "tls-secrets"},
			ManagedPolicies: v1alpha1.ManagedPolicies{AccountRef: cur}}}
		c.Spec.Config.Raw = []byte(`{"type":"tls","options":{"host":"iot.example.com","port":8883}}`)
		c = createReady(c)
		stored, ok := org.NamedConnector("fleet-tls")
		Expect(ok).To(BeTrue())
		Expect(stored["options"]).To(HaveKeyWithValue("key", "PEM-KEY-1"))
		Expect(c.Status.SecretHash).NotTo(BeEmpty())
		Expect(string(c.Status.AtProvider.Raw)).NotTo(ContainSubstring("PEM-KEY"))

		By("a sync request reads the connector: the secret is not echoed back, yet nothing is PATCHed")
		Expect(update(c, func(c *v1alpha1.Connector) {
			c.Annotations = map[string]string{v1alpha1.AnnotationRequestedAt: "1"}
		})).To(Succeed())
		Eventually(func() []string { return calls("/connectors/fleet-tls") }, 10*time.Second).Should(Equal([]string{"GET"}))
		Consistently(func() []string { return calls("/connectors/fleet-tls") }, time.Second).Should(Equal([]string{"GET"}))

		By("a changed Secret is sent once, at the next reconcile")
		var sec corev1.Secret
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: nsCurrent, Name: "tls-secrets"}, &sec)).To(Succeed())
		sec.Data["key"] = []byte("PEM-KEY-2")
		Expect(k8sClient.Update(ctx, &sec)).To(Succeed())
		Expect(update(c, func(c *v1alpha1.Connector) {
			c.Annotations = map[string]string{v1alpha1.AnnotationRequestedAt: "2"}
		})).To(Succeed())
		Eventually(func() []string { return calls("/connectors/fleet-tls") }, 10*time.Second).Should(Equal([]string{"GET", "GET", "PATCH"}))
		stored, _ = org.NamedConnector("fleet-tls")
		Expect(stored["options"]).To(HaveKeyWithValue("key", "PEM-KEY-2"))
		Expect(update(c, func(c *v1alpha1.Connector) {
			c.Annotations = map[string]string{v1alpha1.AnnotationRequestedAt: "3"}
		})).To(Succeed())
		Eventually(func() []string { return calls("/connectors/fleet-tls") }, 10*time.Second).Should(HaveLen(4))
		Consistently(func() []string { return calls("/connectors/fleet-tls") }, time.Second).Should(Equal([]string{"GET", "GET", "PATCH", "GET"}))
	})
})
