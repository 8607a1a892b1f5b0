package controller_test

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"k8s.io/utils/ptr"

	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/simulator"
)

func testSimOptions() simulator.Options { return simulator.Options{} }

var imsiSeq atomic.Int64

// newIMSI is a fresh IMSI in the simulator's inventory.
func newIMSI() string { return fmt.Sprintf("23873%010d", imsiSeq.Add(1)) }

// newSIM is a SIM resource that manages voice, SMS and data, all on.
func newSIM(ns, name, imsi string) *v1alpha1.SIM {
	return &v1alpha1.SIM{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.SIMSpec{IMSI: imsi, SIMSettings: settings(true, true, true)},
	}
}

// settings manages voice, SMS and data; data throttling is left unmanaged.
func settings(voice, sms, data bool) v1alpha1.SIMSettings {
	return v1alpha1.SIMSettings{Voice: ptr.To(voice), SMS: ptr.To(sms), Data: ptr.To(data)}
}

// observed is a SIM as status.atProvider reports it.
func observed(imsi, msisdn string, voice, sms, data, throttled bool) *v1alpha1.SIMObservation {
	return &v1alpha1.SIMObservation{IMSI: imsi, MSISDN: msisdn, SIMSettings: v1alpha1.SIMSettings{
		Voice: ptr.To(voice), SMS: ptr.To(sms), Data: ptr.To(data), DataThrottling: ptr.To(throttled)}}
}

// createReady creates a resource and waits until it is Ready.
func createReady[T managed](obj T) T {
	Expect(k8sClient.Create(ctx, obj)).To(Succeed())
	waitForCondition(obj, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonAvailable)
	return obj
}

// putLive puts a SIM with this number and every service on in the simulator.
func putLive(imsi, msisdn string) {
	sim.PutSIM(simulator.SIM{IMSI: imsi, MSISDN: msisdn, Voice: true, SMS: true, Data: true})
}

// calls returns the simulator's log of requests addressed to one identifier.
func calls(id string) []simulator.Request {
	var out []simulator.Request
	for _, r := range sim.Requests() {
		if r.Path == "/sim/"+id || r.Path == "/sms/"+id || r.Path == "/connector/"+id {
			out = append(out, r)
		}
	}
	return out
}

// verbs summarizes requests as "METHOD status" strings.
func verbs(rs []simulator.Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%s %d", r.Method, r.Status)
	}
	return out
}

func get(obj client.Object) func() client.Object {
	return func() client.Object {
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		return obj
	}
}

// condition returns the condition of a SIM, or nil.
func condition(s *v1alpha1.SIM, typ string) *metav1.Condition {
	return meta.FindStatusCondition(s.Status.Conditions, typ)
}

// managed is a SIM or a Connector: a resource with the shared status.
type managed interface {
	client.Object
	Managed() (*v1alpha1.ManagedPolicies, *v1alpha1.ManagedStatus)
}

// waitForCondition waits until the resource's condition has the status and
// reason for its current generation.
func waitForCondition(obj managed, typ string, status metav1.ConditionStatus, reason string) {
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		_, st := obj.Managed()
		c := meta.FindStatusCondition(st.Conditions, typ)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(status), "%s: %s", c.Reason, c.Message)
		g.Expect(c.Reason).To(Equal(reason), c.Message)
		g.Expect(c.ObservedGeneration).To(Equal(obj.GetGeneration()))
	}, 20*time.Second, 20*time.Millisecond).Should(Succeed())
}

// eventReasons lists the reasons of events about an object.
func eventReasons(obj client.Object) []string {
	var list eventsv1.EventList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(obj.GetNamespace()))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == obj.GetName() && e.Regarding.UID == obj.GetUID() {
			out = append(out, e.Reason)
		}
	}
	slices.Sort(out)
	return out
}

// eventuallyEvents waits until the object has events with these reasons.
func eventuallyEvents(obj client.Object, reasons ...string) {
	Eventually(func() []string { return eventReasons(obj) }, 10*time.Second, 50*time.Millisecond).
		Should(ContainElements(reasons))
}

func clientKey(obj client.Object) client.ObjectKey { return client.ObjectKeyFromObject(obj) }

// update changes a resource's spec with a merge patch, as kubectl would:
// no resourceVersion, so the controller's status writes cannot conflict.
func update[T client.Object](obj T, change func(T)) error {
	latest := obj.DeepCopyObject().(T)
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), latest)).To(Succeed())
	base := latest.DeepCopyObject().(client.Object)
	change(latest)
	return k8sClient.Patch(ctx, latest, client.MergeFrom(base))
}
