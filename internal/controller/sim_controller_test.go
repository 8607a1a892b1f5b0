package controller_test

import (
	"context"
	"fmt"
	"time"

	"k8s.io/utils/ptr"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	gtypes "github.com/onsi/gomega/types"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/metrics"
	"github.com/sim-operator/sim-operator/internal/simulator"
)

var _ = Describe("SIM controller", func() {
	AfterEach(func() { sim.SetFaults(simulator.Faults{}) })

	It("creates a new SIM with exactly one API call and reports it Ready", func() {
		imsi := newIMSI()
		s := newSIM(nsSpec, "create", imsi)
		s.Spec.SMS = ptr.To(false)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())

		By("becoming Ready and Synced")
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionTrue, controller.ReasonReconcileSuccess)

		By("having made a single POST")
		Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200"}))
		got, ok := sim.SIM(imsi)
		Expect(ok).To(BeTrue())
		Expect(got).To(Equal(simulator.SIM{IMSI: imsi, Voice: true, SMS: false, Data: true}))

		By("reporting the SIM in status, holding a finalizer, and recording an event")
		Expect(s.Status.AtProvider).To(Equal(observed(imsi, "", true, false, true, false)))
		Expect(s.Status.Binding).To(Equal(&v1alpha1.SIMBinding{IMSI: imsi}))
		Expect(s.Status.LastError).To(BeNil())
		Expect(s.Finalizers).To(ContainElement(controller.Finalizer))
		eventuallyEvents(s, "Created")
		Consistently(func() []string { return verbs(calls(imsi)) }, 500*time.Millisecond).Should(HaveLen(1))
	})

	It("adopts a SIM that already exists, and PUTs only if it differs", func() {
		By("adopting one that differs: POST 409, GET, PUT")
		imsi := newIMSI()
		sim.PutSIM(simulator.SIM{IMSI: imsi, Voice: false, SMS: true, Data: true})
		s := newSIM(nsSpec, "adopt-differs", imsi)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(verbs(calls(imsi))).To(Equal([]string{"POST 409", "GET 200", "PUT 200"}))
		Expect(simState(imsi)).To(HaveField("Voice", true))
		eventuallyEvents(s, "Adopted", "Updated")

		By("adopting one that matches: POST 409, GET, nothing more")
		imsi2 := newIMSI()
		sim.PutSIM(simulator.SIM{IMSI: imsi2, Voice: true, SMS: true, Data: true})
		s2 := newSIM(nsSpec, "adopt-matches", imsi2)
		Expect(k8sClient.Create(ctx, s2)).To(Succeed())
		waitForCondition(s2, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(verbs(calls(imsi2))).To(Equal([]string{"POST 409", "GET 200"}))
		eventuallyEvents(s2, "Adopted")
	})

	It("applies a spec change with exactly one PUT", func() {
		imsi := newIMSI()
		s := newSIM(nsSpec, "update", imsi)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)

		Expect(update(s, func(s *v1alpha1.SIM) { s.Spec.Data, s.Spec.Voice = ptr.To(false), ptr.To(false) })).To(Succeed())
		Eventually(func() simulator.SIM { return simState(imsi) }, 10*time.Second, 20*time.Millisecond).
			Should(Equal(simulator.SIM{IMSI: imsi, Voice: false, SMS: true, Data: false}))
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200", "PUT 200"}))
		Expect(*s.Status.AtProvider.Data).To(BeFalse())
		eventuallyEvents(s, "Updated")
	})

	It("manages a SIM addressed by its MSISDN alone", func() {
		msisdn := "+4520" + newIMSI()[9:]
		s := &v1alpha1.SIM{
			ObjectMeta: metav1.ObjectMeta{Namespace: nsSpec, Name: "by-msisdn"},
			Spec:       v1alpha1.SIMSpec{MSISDN: msisdn, SIMSettings: settings(true, true, true)},
		}
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(verbs(calls(msisdn))).To(Equal([]string{"POST 200"}))
		_, ok := sim.SIM(msisdn)
		Expect(ok).To(BeTrue())
	})

	DescribeTable("records each API error code in status, with its reason, without a hot loop",
		func(status int, code, reason string, terminal bool) {
			imsi := newIMSI()
			sim.SetFaults(simulator.Faults{Only: "/sim/" + imsi, FailNext: 1, FailStatus: status, FailCode: code})
			s := newSIM(nsSpec, "err-"+imsi[10:], imsi)
			Expect(k8sClient.Create(ctx, s)).To(Succeed())

			waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, reason)
			Expect(condition(s, v1alpha1.ConditionReady).Reason).To(Equal(reason))
			Expect(condition(s, v1alpha1.ConditionSynced).Message).To(And(ContainSubstring(code), ContainSubstring("%d", status)))
			Expect(s.Status.LastError).To(Equal(&v1alpha1.APIErrorStatus{
				Code: code, HTTPStatus: int32(status), Terminal: terminal,
				Message: condition(s, v1alpha1.ConditionSynced).Message,
			}))
			eventuallyEvents(s, "SyncFailed")
			By("making no further call for this generation")
			Consistently(func() int { return len(calls(imsi)) }, 700*time.Millisecond, 50*time.Millisecond).Should(Equal(1))
		},
		Entry("400 imsi_invalid", 400, "imsi_invalid", "ImsiInvalid", true),
		Entry("400 msisdn_invalid", 400, "msisdn_invalid", "MsisdnInvalid", true),
		Entry("400 voice_invalid", 400, "voice_invalid", "VoiceInvalid", true),
		Entry("400 sms_invalid", 400, "sms_invalid", "SmsInvalid", true),
		Entry("400 data_invalid", 400, "data_invalid", "DataInvalid", true),
		Entry("400 data_throttling_invalid", 400, "data_throttling_invalid", "DataThrottlingInvalid", true),
		Entry("403 imsi_forbidden", 403, "imsi_forbidden", "ImsiForbidden", true),
		Entry("404 imsi_not_found", 404, "imsi_not_found", "ImsiNotFound", true),
		Entry("409 data_data_throttling_conflict", 409, "data_data_throttling_conflict", "DataThrottlingConflict", true),
	)

	It("answers the inventory's real 403 and 404 with one call per generation, and tries again on a spec change", func() {
		s := newSIM(nsSpec, "forbidden", "999000000000001")
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, "ImsiForbidden")
		Consistently(func() []string { return verbs(calls("999000000000001")) }, 700*time.Millisecond).
			Should(Equal([]string{"POST 403"}))

		By("a new generation earns exactly one more call")
		Expect(update(s, func(s *v1alpha1.SIM) { s.Spec.Voice = ptr.To(false) })).To(Succeed())
		Eventually(func() []string { return verbs(calls("999000000000001")) }, 10*time.Second).
			Should(Equal([]string{"POST 403", "POST 403"}))
		Consistently(func() int { return len(calls("999000000000001")) }, 500*time.Millisecond).Should(Equal(2))

		u := newSIM(nsSpec, "unknown", "000000000000001")
		Expect(k8sClient.Create(ctx, u)).To(Succeed())
		waitForCondition(u, v1alpha1.ConditionSynced, metav1.ConditionFalse, "ImsiNotFound")
		Expect(u.Status.LastError.HTTPStatus).To(BeEquivalentTo(404))
	})

	It("reports an MSISDN held by another SIM as a terminal imsi_conflict", func() {
		other, imsi := newIMSI(), newIMSI()
		sim.PutSIM(simulator.SIM{IMSI: other, MSISDN: "4577" + other[9:], Voice: true, SMS: true, Data: true})
		s := newSIM(nsSpec, "msisdn-taken", imsi)
		s.Spec.MSISDN = "4577" + other[9:]
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, "ImsiConflict")
		Expect(s.Status.LastError.Terminal).To(BeTrue())
		Consistently(func() []string { return verbs(calls(imsi)) }, 500*time.Millisecond).
			Should(Equal([]string{"POST 409", "GET 404"}))
	})

	It("retries 503s and 429s with backoff until the API accepts", func() {
		By("three 503s, then success")
		imsi := newIMSI()
		sim.SetFaults(simulator.Faults{Only: "/sim/" + imsi, FailNext: 3})
		s := newSIM(nsSpec, "retry-503", imsi)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		// The 503s may have been applied; the retry then finds the SIM and adopts it.
		Expect(verbs(calls(imsi))).To(Equal([]string{"POST 503", "POST 503", "POST 503", "POST 200"}))
		Expect(s.Status.LastError).To(BeNil())

		By("a 429 with Retry-After: 1, honoured")
		imsi = newIMSI()
		sim.SetFaults(simulator.Faults{Only: "/sim/" + imsi, TooManyNext: 1, RetryAfterSeconds: 1})
		s = newSIM(nsSpec, "retry-429", imsi)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, "RateLimited")
		Expect(s.Status.LastError).To(Equal(&v1alpha1.APIErrorStatus{
			Code: "rate_limited", HTTPStatus: 429, Terminal: false, Message: s.Status.LastError.Message}))
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		rs := calls(imsi)
		Expect(verbs(rs)).To(Equal([]string{"POST 429", "POST 200"}))
		Expect(rs[1].Time.Sub(rs[0].Time)).To(BeNumerically(">=", 900*time.Millisecond))
	})

	It("deletes the SIM in the API with deletionPolicy Delete, and leaves it with Orphan", func() {
		imsi := newIMSI()
		s := newSIM(nsSpec, "delete", imsi)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		Eventually(func() bool { return isGone(s) }, 10*time.Second).Should(BeTrue())
		Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200", "DELETE 200"}))
		_, exists := sim.SIM(imsi)
		Expect(exists).To(BeFalse())
		eventuallyEvents(s, "Deleted")

		imsi = newIMSI()
		o := newSIM(nsSpec, "orphan", imsi)
		o.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		Expect(k8sClient.Create(ctx, o)).To(Succeed())
		waitForCondition(o, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(k8sClient.Delete(ctx, o)).To(Succeed())
		Eventually(func() bool { return isGone(o) }, 10*time.Second).Should(BeTrue())
		Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200"}))
		_, exists = sim.SIM(imsi)
		Expect(exists).To(BeTrue())
		eventuallyEvents(o, "Orphaned")
	})

	It("lets a resource whose SIM was never created go without a call", func() {
		s := newSIM(nsSpec, "never-created", "999000000000077")
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, "ImsiForbidden")
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		Eventually(func() bool { return isGone(s) }, 10*time.Second).Should(BeTrue())
		Expect(verbs(calls("999000000000077"))).To(Equal([]string{"POST 403"}))
	})

	It("only reads with managementPolicy ObserveOnly, and reports what it sees", func() {
		imsi := newIMSI()
		sim.PutSIM(simulator.SIM{IMSI: imsi, MSISDN: "4530" + imsi[9:], Voice: false, SMS: true, Data: true})
		s := newSIM(nsSpec, "observe", imsi)
		s.Spec.ManagementPolicy = v1alpha1.ManagementPolicyObserveOnly
		Expect(k8sClient.Create(ctx, s)).To(Succeed())

		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionFalse, controller.ReasonDiffers)
		Expect(condition(s, v1alpha1.ConditionReady).Message).To(ContainSubstring("voice=false"))
		Expect(s.Status.AtProvider).To(Equal(observed(imsi, "4530"+imsi[9:], false, true, true, false)))
		Expect(s.Finalizers).To(BeEmpty())

		By("matching the spec to the real SIM makes it Ready, still without writing")
		Expect(update(s, func(s *v1alpha1.SIM) { s.Spec.Voice = ptr.To(false) })).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(k8sClient.Delete(ctx, s)).To(Succeed())
		Eventually(func() bool { return isGone(s) }, 10*time.Second).Should(BeTrue())
		for _, r := range calls(imsi) {
			Expect(r.Method).To(Equal("GET"))
		}
		Expect(simState(imsi)).To(HaveField("Voice", false))
	})

	It("lets the older of two resources naming one IMSI own it; the other waits without calls", func() {
		imsi := newIMSI()
		first := newSIM(nsSpec, "dup-first", imsi)
		first.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		Expect(k8sClient.Create(ctx, first)).To(Succeed())
		waitForCondition(first, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)

		second := newSIM(nsSpecB, "dup-second", imsi)
		second.Spec.Voice = ptr.To(false)
		Expect(k8sClient.Create(ctx, second)).To(Succeed())
		waitForCondition(second, v1alpha1.ConditionReady, metav1.ConditionFalse, controller.ReasonDuplicateSIM)
		Expect(condition(second, v1alpha1.ConditionReady).Message).To(ContainSubstring("spec/dup-first"))
		Consistently(func() []string { return verbs(calls(imsi)) }, 500*time.Millisecond).Should(Equal([]string{"POST 200"}))
		Expect(second.Finalizers).To(BeEmpty())

		By("taking over when the owner goes: a GET, and a PUT since its spec differs; no POST")
		Expect(k8sClient.Delete(ctx, first)).To(Succeed())
		waitForCondition(second, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(verbs(calls(imsi))).To(Equal([]string{"POST 200", "GET 200", "PUT 200"}))
	})
})

// nsSIMRestart has managers only while the restart spec runs.
const nsSIMRestart = "sim-restart"

var _ = Describe("SIM across a manager restart", func() {
	It("resumes in-sync SIMs over one sync period instead of reading them all at once", func() {
		const period = 4 * time.Second
		mctx, stop := context.WithCancel(ctx)
		stopped := startManager(mctx, period, nsSIMRestart)
		var inSync []string
		for i := range 8 {
			imsi := newIMSI()
			inSync = append(inSync, imsi)
			s := newSIM(nsSIMRestart, fmt.Sprintf("in-sync-%d", i), imsi)
			Expect(k8sClient.Create(ctx, s)).To(Succeed())
			waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		}
		failing := newIMSI()
		sim.SetFaults(simulator.Faults{Only: "/sim/" + failing, FailNext: 1000})
		b := newSIM(nsSIMRestart, "failing", failing)
		Expect(k8sClient.Create(ctx, b)).To(Succeed())
		waitForCondition(b, v1alpha1.ConditionSynced, metav1.ConditionFalse, "ServiceUnavailable")
		stop()
		<-stopped

		By("a new manager retries the failing SIM at once, and reads the in-sync ones spread over the period")
		sim.SetFaults(simulator.Faults{})
		readSince := func(marks map[string]int) int {
			n := 0
			for _, imsi := range inSync {
				if len(calls(imsi)) > marks[imsi] {
					n++
				}
			}
			return n
		}
		marks := map[string]int{}
		for _, imsi := range inSync {
			marks[imsi] = len(calls(imsi))
		}
		mctx, stop = context.WithCancel(ctx)
		defer stop()
		startManager(mctx, period, nsSIMRestart)
		waitForCondition(b, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Expect(readSince(marks)).To(BeNumerically("<", len(inSync)/2), "most in-sync SIMs were read at once after the restart")
		Eventually(func() int { return readSince(marks) }, 3*period, 50*time.Millisecond).Should(Equal(len(inSync)))
	})
})

// nsEarly has a manager only while an early-change spec runs.
const nsEarly = "sim-early"

var _ = Describe("SIM spec changes made while no manager runs", Ordered, func() {
	BeforeAll(func() {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsEarly}})).To(Succeed())
	})
	startWith := func(mctx context.Context, applyEarly bool) <-chan struct{} {
		return startManagerWith(mctx, func(o *app.Options) {
			o.SyncPeriod, o.WatchNamespaces, o.ApplyEarly = time.Hour, []string{nsEarly}, applyEarly
		})
	}
	DescribeTable("are applied once each after a restart, one SIM's Claim taken out of its status",
		func(run string, applyEarly bool, early gtypes.GomegaMatcher) {
			mctx, stop := context.WithCancel(ctx)
			stopped := startWith(mctx, applyEarly)
			var sims []*v1alpha1.SIM
			for i := range 6 {
				s := newSIM(nsEarly, fmt.Sprintf("%s-%d", run, i), newIMSI())
				Expect(k8sClient.Create(ctx, s)).To(Succeed())
				sims = append(sims, s)
			}
			for _, s := range sims {
				waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
			}
			stop()
			<-stopped

			By("changing every SIM's spec while no manager runs")
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(sims[0]), sims[0])).To(Succeed())
			sims[0].Status.Claim = ""
			Expect(k8sClient.Status().Update(ctx, sims[0])).To(Succeed())
			marks := map[string]int{}
			for _, s := range sims {
				marks[s.Spec.IMSI] = len(calls(s.Spec.IMSI))
				Expect(k8sClient.Patch(ctx, s, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"voice":false}}`)))).To(Succeed())
			}

			By("starting a manager again: one GET and one PUT per SIM, and nothing more")
			converged := testutil.ToFloat64(metrics.EarlyChanges.WithLabelValues("SIM", "converged"))
			mctx, stop = context.WithCancel(ctx)
			defer stop()
			startWith(mctx, applyEarly)
			for _, s := range sims {
				Eventually(func() bool { return simState(s.Spec.IMSI).Voice }, 20*time.Second, 50*time.Millisecond).Should(BeFalse())
				Eventually(func() int64 {
					Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s), s)).To(Succeed())
					return s.Status.ObservedGeneration
				}, 20*time.Second, 50*time.Millisecond).Should(Equal(s.Generation))
			}
			Consistently(func() [][]string {
				var out [][]string
				for _, s := range sims {
					out = append(out, verbs(calls(s.Spec.IMSI)[marks[s.Spec.IMSI]:]))
				}
				return out
			}, 2*time.Second, 100*time.Millisecond).Should(HaveEach(Equal([]string{"GET 200", "PUT 200"})))
			for _, s := range sims {
				Expect(s.Status.Claim).NotTo(BeEmpty(), "%s holds its Claim again", s.Name)
				waitForCondition(s, v1alpha1.ConditionSynced, metav1.ConditionTrue, controller.ReasonReconcileSuccess)
			}
			Expect(testutil.ToFloat64(metrics.EarlyChanges.WithLabelValues("SIM", "converged"))-converged).To(early,
				"changes converged as they arrived (at most the five SIMs that hold their Claim)")
		},
		Entry("as they arrive, for the SIMs that hold their Claim", "early", true, SatisfyAll(BeNumerically(">=", 1), BeNumerically("<=", 5))),
		Entry("by the workers alone with --apply-early=false", "late", false, BeZero()),
	)
})

var _ = Describe("SIM drift correction (one-second sync period)", func() {
	It("corrects a change made outside the operator at the next sync", func() {
		imsi := newIMSI()
		s := newSIM(nsDrift, "drift", imsi)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)

		By("correcting the managed setting, keeping the one the spec leaves out (data throttling)")
		sim.PutSIM(simulator.SIM{IMSI: imsi, Voice: true, SMS: false, Data: true, DataThrottling: true})
		Eventually(func() simulator.SIM { return simState(imsi) }, 10*time.Second, 50*time.Millisecond).
			Should(Equal(simulator.SIM{IMSI: imsi, Voice: true, SMS: true, Data: true, DataThrottling: true}))
		eventuallyEvents(s, "DriftCorrected")
		Expect(verbs(calls(imsi))).To(ContainElements("GET 200", "PUT 200"))
	})

	It("recreates a SIM deleted outside the operator", func() {
		imsi := newIMSI()
		s := newSIM(nsDrift, "recreate", imsi)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)

		Expect(sim.DeleteSIMOutOfBand(imsi)).To(BeTrue())
		Eventually(func() bool { _, ok := sim.SIM(imsi); return ok }, 10*time.Second, 50*time.Millisecond).Should(BeTrue())
		eventuallyEvents(s, "Recreated")
		Expect(verbs(calls(imsi))).To(ContainElements("GET 404", "POST 200"))
	})

	It("costs one GET per sync period and no apiserver write in the steady state", func() {
		imsi := newIMSI()
		s := newSIM(nsDrift, "steady", imsi)
		Expect(k8sClient.Create(ctx, s)).To(Succeed())
		waitForCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
		Eventually(func() int { return len(calls(imsi)) }, 10*time.Second).Should(BeNumerically(">=", 2))
		rv := get(s)().GetResourceVersion()

		By("letting three more sync periods pass")
		start := len(calls(imsi))
		Eventually(func() int { return len(calls(imsi)) }, 10*time.Second, 50*time.Millisecond).Should(BeNumerically(">=", start+3))
		for _, r := range calls(imsi)[1:] {
			Expect(r.Method).To(Equal("GET"))
		}
		Expect(get(s)().GetResourceVersion()).To(Equal(rv), "the steady state wrote to the apiserver")
	})
})

// simState is the SIM as the simulator holds it (zero if absent).
func simState(id string) simulator.SIM {
	v, _ := sim.SIM(id)
	return v
}

func isGone(obj client.Object) bool {
	err := k8sClient.Get(ctx, types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}, obj)
	return client.IgnoreNotFound(err) == nil && err != nil
}
