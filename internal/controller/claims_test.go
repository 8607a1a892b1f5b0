package controller_test

import (
	"context"
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

// Two installs of the operator, each restricted to its team's namespace,
// both with the same organisation's key: the Claims in the apiserver keep
// them from both driving one SIM.
const (
	nsTeamX = "team-x"
	nsTeamY = "team-y"
)

var _ = Describe("Ownership across managers", Ordered, func() {
	var stopX context.CancelFunc
	var stoppedX <-chan struct{}
	install := func(ns string) (context.CancelFunc, <-chan struct{}) {
		c, cancel := context.WithCancel(ctx)
		return cancel, startManagerWith(c, func(o *app.Options) {
			o.WatchNamespaces, o.SyncPeriod, o.MaxBackoff = []string{ns}, time.Hour, 300*time.Millisecond
		})
	}
	claimOf := func(s *v1alpha1.SIM) *v1alpha1.Claim {
		get(s)()
		var c v1alpha1.Claim
		Expect(s.Status.Claim).NotTo(BeEmpty())
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: s.Status.Claim}, &c)).To(Succeed())
		return &c
	}

	BeforeAll(func() {
		for _, ns := range []string{nsTeamX, nsTeamY} {
			Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		}
		stopX, stoppedX = install(nsTeamX)
		stopY, _ := install(nsTeamY)
		DeferCleanup(stopY)
	})

	It("refuses a duplicate across installs with no call, keeps a killed holder's claim, and hands over on deletion", func() {
		imsi := newIMSI()
		x := newSIM(nsTeamX, "tracker", imsi)
		x.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		x = createReady(x)
		claim := claimOf(x)
		Expect(claim.Spec.Holder).To(Equal(v1alpha1.ClaimHolder{Namespace: nsTeamX, Name: "tracker", UID: x.UID}))
		Expect(claim.Spec.Identifier).To(Equal("imsi:" + imsi))
		Expect(claim.Spec.Organisation).NotTo(ContainSubstring(testutil.APIKey), "the organisation names no key")

		By("install Y's resource naming the same SIM, with another voice setting: DuplicateSIM, no call")
		before := len(calls(imsi))
		y := newSIM(nsTeamY, "tracker-copy", imsi)
		y.Spec.Voice = new(bool)
		Expect(k8sClient.Create(ctx, y)).To(Succeed())
		waitForCondition(y, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonDuplicateSIM)
		Expect(condition(y, v1alpha1.ConditionSynced).Message).To(ContainSubstring("namespace " + nsTeamX))
		Expect(condition(y, v1alpha1.ConditionSynced).Message).NotTo(ContainSubstring("tracker "), "the holder's name is not Y's to see")
		Consistently(func() int { return len(calls(imsi)) }, 1500*time.Millisecond).Should(Equal(before))

		By("install X killed: its resource still exists, so the claim is not taken")
		stopX()
		Eventually(stoppedX, 20*time.Second).Should(BeClosed())
		Consistently(func() int { return len(calls(imsi)) }, 1500*time.Millisecond).Should(Equal(before))
		Expect(claimOf(x).Spec.Holder.UID).To(Equal(x.UID))

		By("install X back, its resource deleted (Orphan): the claim goes, and Y takes the SIM over with a GET and a PUT")
		stopX, stoppedX = install(nsTeamX)
		Expect(k8sClient.Delete(ctx, x)).To(Succeed())
		Eventually(func() bool { return isGone(x) }, 20*time.Second).Should(BeTrue())
		waitForCondition(y, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(verbs(calls(imsi)[before:])).To(Equal([]string{"GET 200", "PUT 200"}))
		Expect(claimOf(y).Spec.Holder.UID).To(Equal(y.UID))
		Expect(simState(imsi).Voice).To(BeFalse())
	})

	It("takes a claim whose holder the apiserver says is gone", func() {
		imsi := newIMSI()
		x := createReady(newSIM(nsTeamX, "short-lived", imsi))
		name := x.Status.Claim
		By("the resource removed without its manager (finalizer stripped by hand)")
		Expect(update(x, func(s *v1alpha1.SIM) { s.Finalizers = nil })).To(Succeed())
		Expect(k8sClient.Delete(ctx, x)).To(Succeed())
		Eventually(func() bool { return isGone(x) }, 10*time.Second).Should(BeTrue())
		y := createReady(newSIM(nsTeamY, "successor", imsi))
		Expect(y.Status.Claim).To(Equal(name))
		Expect(claimOf(y).Spec.Holder.UID).To(Equal(y.UID))
	})

	It("refuses a duplicate across two label shards with no call", func() {
		const ns = "sharded"
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		for _, sel := range []string{app.ShardLabel + " in (shard1)", app.ShardLabel + " in (shard2)"} {
			c, cancel := context.WithCancel(ctx)
			DeferCleanup(cancel)
			startManagerWith(c, func(o *app.Options) {
				o.WatchNamespaces, o.WatchLabelSelector, o.SyncPeriod, o.MaxBackoff = []string{ns}, sel, time.Hour, 300*time.Millisecond
			})
		}
		inShard := func(name, shard, imsi string) *v1alpha1.SIM {
			s := newSIM(ns, name, imsi)
			s.Labels = map[string]string{app.ShardLabel: shard}
			return s
		}
		imsi := newIMSI()
		one := createReady(inShard("one", "shard1", imsi))
		before := len(calls(imsi))
		By("the same SIM named in the other shard: DuplicateSIM through the Claim, no call")
		two := inShard("two", "shard2", imsi)
		two.Spec.Voice = new(bool)
		Expect(k8sClient.Create(ctx, two)).To(Succeed())
		waitForCondition(two, v1alpha1.ConditionSynced, metav1.ConditionFalse, controller.ReasonDuplicateSIM)
		Consistently(func() int { return len(calls(imsi)) }, time.Second).Should(Equal(before))
		Expect(claimOf(one).Spec.Holder.UID).To(Equal(one.UID))
		By("an unlabelled SIM belongs to neither shard: nobody touches it")
		stray := newSIM(ns, "stray", newIMSI())
		Expect(k8sClient.Create(ctx, stray)).To(Succeed())
		Consistently(func() []simulator.Request { return calls(stray.Spec.IMSI) }, time.Second).Should(BeEmpty())
	})
})
