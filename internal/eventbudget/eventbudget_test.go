package eventbudget

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	prom "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sim-operator/sim-operator/internal/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

var (
	cfg *rest.Config
	k8s client.Client
)

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Println("KUBEBUILDER_ASSETS not set; `make test` sets it")
		os.Exit(0)
	}
	env := &envtest.Environment{}
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if k8s, err = client.New(cfg, client.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	log.SetLogger(logr.Discard())
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// start runs a recorder with o in a fresh namespace until the test ends, and
// returns the object its events regard.
func start(t *testing.T, o Options) (*Recorder, *corev1.ConfigMap) {
	t.Helper()
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "events-"}}
	if err := k8s.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "subject"}}
	if err := k8s.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg, hc, scheme.Scheme, "eventbudget-test", o)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Start(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return r, cm
}

// eventsIn lists the events of a namespace by note.
func eventsIn(t *testing.T, ns string) map[string]eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(t.Context(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]eventsv1.Event{}
	for _, e := range list.Items {
		out[e.Note] = e
	}
	return out
}

// eventually polls cond every 50 ms for up to 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, what, 30*time.Second, 50*time.Millisecond, cond)
}

// A burst beyond the budget waits in the queue and is written in full.
func TestBurstBeyondTheBudgetIsQueuedNotLost(t *testing.T) {
	written := prom.ToFloat64(outcomes.WithLabelValues("written"))
	dropped := prom.ToFloat64(outcomes.WithLabelValues("dropped"))
	r, cm := start(t, Options{QPS: 10, Burst: 2, QueueSize: 100})
	const n = 30
	for i := range n {
		// Distinct actions: client-go folds events that differ only in their note into a series.
		r.Eventf(cm, nil, corev1.EventTypeNormal, "Created", fmt.Sprintf("Create%d", i), "event %d", i)
	}
	eventually(t, "events waiting in the queue", func() bool { return prom.ToFloat64(queued) > 0 })
	eventually(t, fmt.Sprintf("all %d events in the apiserver", n), func() bool { return len(eventsIn(t, cm.Namespace)) == n })
	got := eventsIn(t, cm.Namespace)
	for i := range n {
		e, ok := got[fmt.Sprintf("event %d", i)]
		if !ok || e.Reason != "Created" || e.Regarding.Name != cm.Name || e.ReportingController != "eventbudget-test" {
			t.Errorf("event %d: %+v", i, e)
		}
	}
	if d := prom.ToFloat64(outcomes.WithLabelValues("dropped")) - dropped; d != 0 {
		t.Errorf("%v events dropped, want none", d)
	}
	if w := prom.ToFloat64(outcomes.WithLabelValues("written")) - written; w != n {
		t.Errorf("sim_operator_events_total{outcome=written} grew by %v, want %d", w, n)
	}
	eventually(t, "an empty queue", func() bool { return prom.ToFloat64(queued) == 0 })
}

// Beyond the queue's size, new events are dropped and counted; the queued
// ones wait for the budget.
func TestEventsBeyondTheQueueAreDroppedAndCounted(t *testing.T) {
	dropped := prom.ToFloat64(outcomes.WithLabelValues("dropped"))
	// One write per 100 s: the first goes at once, three wait, the rest do not fit.
	r, cm := start(t, Options{QPS: 0.01, Burst: 1, QueueSize: 3})
	const n = 20
	for i := range n {
		r.Eventf(cm, nil, corev1.EventTypeWarning, "SyncFailed", fmt.Sprintf("Sync%d", i), "failure %d", i)
	}
	// Three to five are taken: one written, maybe one in the writer waiting
	// for its token, three in the queue.
	eventually(t, "15 or more events dropped", func() bool {
		return prom.ToFloat64(outcomes.WithLabelValues("dropped"))-dropped >= n-5
	})
	if d := prom.ToFloat64(outcomes.WithLabelValues("dropped")) - dropped; d > n-3 {
		t.Errorf("%v dropped, though three fit in the queue", d)
	}
	if q := prom.ToFloat64(queued); q < 2 || q > 3 {
		t.Errorf("sim_operator_events_queued = %v, want the queue still holding what fitted", q)
	}
}

// A warning recorded behind a backlog of normal events is written before them.
func TestWarningsSkipAheadOfABacklog(t *testing.T) {
	// One write a second: a backlog of four or more lasts four seconds or more.
	r, cm := start(t, Options{QPS: 1, Burst: 1, QueueSize: 100})
	const n = 10
	for i := range n {
		r.Eventf(cm, nil, corev1.EventTypeNormal, "Created", fmt.Sprintf("Create%d", i), "event %d", i)
	}
	eventually(t, "a backlog", func() bool { return prom.ToFloat64(queued) >= 4 })
	r.Eventf(cm, nil, corev1.EventTypeWarning, "SyncFailed", "Sync", "the warning")
	var normal int
	eventually(t, "the warning written", func() bool {
		got := eventsIn(t, cm.Namespace)
		_, ok := got["the warning"]
		normal = len(got) - 1
		return ok
	})
	// At most six were written when it was recorded, and one more may have been waiting for its token.
	if normal > n-3 {
		t.Errorf("%d of %d normal events were written before the warning, want it ahead of the backlog", normal, n)
	}
}

// A repeated event counts up a series instead of adding an object.
func TestARepeatedEventBecomesASeries(t *testing.T) {
	r, cm := start(t, Options{QPS: -1, QueueSize: 10})
	r.Eventf(cm, nil, corev1.EventTypeWarning, "SyncFailed", "Sync", "the same failure")
	eventually(t, "the first event", func() bool { return len(eventsIn(t, cm.Namespace)) == 1 })
	r.Eventf(cm, nil, corev1.EventTypeWarning, "SyncFailed", "Sync", "the same failure")
	eventually(t, "a series of two", func() bool {
		e := eventsIn(t, cm.Namespace)["the same failure"]
		return e.Series != nil && e.Series.Count == 2
	})
	if got := len(eventsIn(t, cm.Namespace)); got != 1 {
		t.Errorf("%d events, want one with a series", got)
	}
}

// A series update whose first event never reached the apiserver (dropped
// from a full queue) creates it, as client-go's own sink does.
func TestASeriesWhoseFirstEventWasLostIsCreated(t *testing.T) {
	r, cm := start(t, Options{QPS: -1, QueueSize: 10})
	e := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Namespace: cm.Namespace, Name: "subject.lost"},
		EventTime:           metav1.NowMicro(),
		Series:              &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NowMicro()},
		ReportingController: "eventbudget-test", ReportingInstance: "eventbudget-test-1",
		Action: "Sync", Reason: "SyncFailed", Type: corev1.EventTypeWarning, Note: "lost",
		Regarding: corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: cm.Namespace, Name: cm.Name},
	}
	if err := r.sink.send(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	if got := eventsIn(t, cm.Namespace)["lost"]; got.Name != "subject.lost" || got.Series == nil || got.Series.Count != 2 {
		t.Errorf("event %+v, want subject.lost with a series of 2", got)
	}
}

// While events keep arriving, Normal ones trickle at one per Yield, however
// large the budget, and warnings do not wait; once the recorder is quiet, the
// rest follow at once.
func TestNormalEventsYieldWhileABurstLasts(t *testing.T) {
	const yield, warnings = 500 * time.Millisecond, 10
	r, cm := start(t, Options{QPS: -1, QueueSize: 1000, Yield: yield})
	n, began := 0, time.Now()
	for ; time.Since(began) < 3*time.Second; n++ {
		r.Eventf(cm, nil, corev1.EventTypeNormal, "Created", fmt.Sprintf("Create%d", n), "event %d", n)
		if n == 10 {
			for i := range warnings {
				r.Eventf(cm, nil, corev1.EventTypeWarning, "SyncFailed", fmt.Sprintf("Sync%d", i), "failure %d", i)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	lasted := time.Since(began)
	written, failures := 0, 0
	for _, e := range eventsIn(t, cm.Namespace) {
		if e.Type == corev1.EventTypeWarning {
			failures++
		} else {
			written++
		}
	}
	// One at the start and at most one per yield after it; a slow machine only writes fewer.
	if most := 1 + int(lasted/yield); written > most {
		t.Errorf("%d of %d normal events written during a %s burst, want at most %d", written, n, lasted.Round(time.Millisecond), most)
	}
	if failures != warnings {
		t.Errorf("%d of %d warnings written during the burst, want all: they do not yield", failures, warnings)
	}
	eventually(t, fmt.Sprintf("all %d events written after the burst", n+warnings), func() bool { return len(eventsIn(t, cm.Namespace)) == n+warnings })
}
