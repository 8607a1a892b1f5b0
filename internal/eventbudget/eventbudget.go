// Package eventbudget records Kubernetes events through their own
// client-side budget and a bounded queue, as kubelet's --event-qps does.
//
// Events share the apiserver with the writes that make resources Ready. In a
// burst (10,000 new SIMs) one event per SIM would be a quarter of the
// apiserver's work, so events wait in FIFO queues and are written at
// --event-qps after the burst of --event-burst, never blocking a reconcile.
// While events keep arriving (the controllers are in a burst), Normal ones
// trickle at one a second and the queue drains once the burst is over.
// Status is the record of what happened; events may trail it, but Warning
// events (SyncFailed, DeliveryUnknown) skip ahead of Normal ones. Beyond
// --event-queue-size waiting events of a type, new ones are dropped and
// counted (Kubernetes events are best-effort by design).
package eventbudget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	eventsclient "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/reference"
	"k8s.io/client-go/util/flowcontrol"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Options size the budget.
type Options struct {
	// QPS is how many event writes per second reach the apiserver (negative: no limit).
	QPS float64
	// Burst is how many may go at once after a quiet spell.
	Burst int
	// QueueSize is how many events of each type (Warning, Normal) may wait;
	// beyond it new ones are dropped.
	QueueSize int
	// Yield is how long the recorder must have been quiet (no new event) for
	// Normal events to drain at QPS. While events keep coming, the controllers
	// are in a burst of reconciles whose writes make resources Ready, and
	// Normal events trickle at one per Yield so as not to slow them; Warning
	// events, a sign that those reconciles fail, do not wait. 0: never yield.
	Yield time.Duration
}

// DefaultYield is the manager's Options.Yield.
const DefaultYield = time.Second

// maxTries bounds the attempts at one event while the apiserver is unreachable.
const maxTries = 12

// running are the sinks of recorders not stopped, whose queues the gauge sums at scrape time.
var running = struct {
	sync.Mutex
	sinks map[*queueSink]struct{}
}{sinks: map[*queueSink]struct{}{}}

var (
	queued = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "sim_operator_events_queued",
		Help: "Kubernetes events waiting for the event budget (--event-qps).",
	}, func() float64 {
		running.Lock()
		defer running.Unlock()
		n := 0
		for s := range running.sinks {
			n += len(s.warnings) + len(s.normal)
		}
		return float64(n)
	})
	outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sim_operator_events_total",
		Help: "Kubernetes events by outcome: written, dropped (the queue was full), failed (the apiserver refused, or retries ran out).",
	}, []string{"outcome"})
)

func init() {
	metrics.Registry.MustRegister(queued, outcomes)
}

// Recorder is an events.EventRecorder whose events are written through the
// budget. It is a manager Runnable: add it to the manager, which starts it.
//
// It replaces client-go's broadcaster, which keeps two copies of every
// event (and a goroutine each while it is handed on) for six minutes to find
// repeats: the largest share of a burst's heap (docs/performance.md,
// "Memory at 10,000 SIMs"). A queued event here is its few strings; the Event object is built when it
// is written, and repeated warnings are found by a hash of what makes two
// events isomorphic.
type Recorder struct {
	scheme     *runtime.Scheme
	controller string // reportingController
	instance   string // reportingInstance: controller-hostname
	sink       *queueSink
	now        func() time.Time

	mu sync.Mutex
	// series are the warnings of the last seriesWindow by isomorphism: a
	// repeat within it counts up the first event's series instead of adding
	// one (a reconcile failing the same way, status unchanged).
	series map[uint64]*series
}

// seriesWindow is how long a repeat joins an event's series, as client-go's.
const seriesWindow = 6 * time.Minute

// maxNoteLength is the apiserver's limit on an event's note.
const maxNoteLength = 1024

// series is an event and its repeats.
type series struct {
	name  string // the first event's
	count int32
	last  time.Time
}

// New builds a recorder writing as component. Events go out as protobuf,
// the apiserver's cheapest encoding for built-in kinds, over httpClient.
func New(cfg *rest.Config, httpClient *http.Client, scheme *runtime.Scheme, component string, o Options) (*Recorder, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	if o.QPS < 0 {
		cfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	} else {
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(float32(o.QPS), max(o.Burst, 1))
	}
	client, err := eventsclient.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	size := max(o.QueueSize, 1)
	hostname, _ := os.Hostname()
	r := &Recorder{scheme: scheme, controller: component, instance: component + "-" + hostname, now: time.Now, series: map[uint64]*series{}}
	r.sink = &queueSink{api: client, build: r.event, warnings: make(chan *pending, size), normal: make(chan *pending, size), yield: o.Yield}
	running.Lock()
	running.sinks[r.sink] = struct{}{} // counted from the first event, until Start returns
	running.Unlock()
	return r, nil
}

// Start writes events until ctx ends; events still queued then are lost.
// Events recorded before Start wait in the queue.
func (r *Recorder) Start(ctx context.Context) error {
	go r.forgetSeries(ctx)
	r.sink.drain(ctx)
	return nil
}

// NeedLeaderElection is false: a standby replica records nothing, and the
// leader's controllers must find the recorder running.
func (r *Recorder) NeedLeaderElection() bool { return false }

// Eventf queues an event about regarding (and related, which may be nil).
func (r *Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	r.AnnotatedEventf(regarding, related, nil, eventtype, reason, action, note, args...)
}

// AnnotatedEventf is Eventf with annotations on the Event.
func (r *Recorder) AnnotatedEventf(regarding, related runtime.Object, annotations map[string]string, eventtype, reason, action, note string, args ...any) {
	if eventtype != corev1.EventTypeNormal && eventtype != corev1.EventTypeWarning {
		return
	}
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		return
	}
	// A queued event may wait minutes, thousands of them in a burst: its
	// API version is shared, not a copy per event, and its resource
	// version gets bytes of its own (a cached object's strings may share
	// its whole cache entry's, internal/compact).
	ref.APIVersion, ref.ResourceVersion = unique.Make(ref.APIVersion).Value(), strings.Clone(ref.ResourceVersion)
	p := &pending{regarding: *ref, annotations: annotations, typ: eventtype, reason: reason, action: action, at: r.now()}
	if related != nil {
		p.related, _ = reference.GetReference(r.scheme, related)
	}
	if p.note = note; len(args) > 0 {
		p.note = fmt.Sprintf(note, args...)
	}
	if len(p.note) > maxNoteLength {
		p.note = p.note[:maxNoteLength]
	}
	if eventtype == corev1.EventTypeWarning {
		p.series, p.count = r.repeat(p)
	}
	r.sink.enqueue(p)
}

// repeat finds p's series: a new one (count 1), or the one p repeats.
func (r *Recorder) repeat(p *pending) (*series, int32) {
	key := isomorphism(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.series[key]; ok && p.at.Sub(s.last) < seriesWindow {
		s.count++
		s.last = p.at
		return s, s.count
	}
	s := &series{name: eventName(p.regarding.Name, p.at), count: 1, last: p.at}
	r.series[key] = s
	return s, 1
}

// isomorphism hashes what client-go compares to find a repeat: the type,
// action, reason and both references (not the note).
func isomorphism(p *pending) uint64 {
	h := fnv.New64a()
	refs := []*corev1.ObjectReference{&p.regarding, p.related}
	for _, ref := range refs {
		if ref == nil {
			ref = &corev1.ObjectReference{}
		}
		for _, f := range []string{ref.Kind, ref.Namespace, ref.Name, string(ref.UID), ref.APIVersion, ref.ResourceVersion, ref.FieldPath} {
			_, _ = h.Write([]byte(f))
			_, _ = h.Write([]byte{0})
		}
	}
	for _, f := range []string{p.typ, p.action, p.reason} {
		_, _ = h.Write([]byte(f))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()
}

// forgetSeries drops, every minute, series quiet for longer than the window.
func (r *Recorder) forgetSeries(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		for k, s := range r.series {
			if r.now().Sub(s.last) >= seriesWindow {
				delete(r.series, k)
			}
		}
		r.mu.Unlock()
	}
}

// event builds the Event a queued one becomes, as client-go's recorder would.
func (r *Recorder) event(p *pending) *eventsv1.Event {
	ns := p.regarding.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	e := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: p.name(), Namespace: ns, Annotations: p.annotations},
		EventTime:           metav1.NewMicroTime(p.at),
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
		Action:              p.action,
		Reason:              p.reason,
		Regarding:           p.regarding,
		Related:             p.related,
		Note:                p.note,
		Type:                p.typ,
	}
	if p.count > 1 {
		e.Series = &eventsv1.EventSeries{Count: p.count, LastObservedTime: metav1.NewMicroTime(p.at)}
	}
	return e
}

// pending is a queued event: what it says, not yet an Event object.
type pending struct {
	regarding                 corev1.ObjectReference
	related                   *corev1.ObjectReference
	annotations               map[string]string
	typ, reason, action, note string
	at                        time.Time
	// series is the warning this one is or repeats; count is its place in
	// it (1: the first, created; more: a repeat, patched onto the first).
	// Normal events have none: they come with a status write, so the
	// reference's resourceVersion differs and they never repeat one.
	series *series
	count  int32
}

// name is the Event's: its series' first event's, or its own, as client-go names them.
func (p *pending) name() string {
	if p.series != nil {
		return p.series.name
	}
	return eventName(p.regarding.Name, p.at)
}

func eventName(regarding string, at time.Time) string {
	return fmt.Sprintf("%s.%x", regarding, at.UnixNano())
}

// queueSink queues and returns at once, and drain writes through the
// rate-limited client, warnings first, each type in order (a series update
// stays behind its first event: they share a type).
type queueSink struct {
	api      eventsclient.EventsV1Interface
	build    func(*pending) *eventsv1.Event
	warnings chan *pending
	normal   chan *pending
	// yield is Options.Yield; lastQueued (unix nanoseconds) is when the
	// latest event arrived, lastWritten when the drainer last wrote one.
	yield       time.Duration
	lastQueued  atomic.Int64
	lastWritten time.Time
}

func (s *queueSink) enqueue(p *pending) {
	queue := s.normal
	if p.typ == corev1.EventTypeWarning {
		queue = s.warnings
	}
	s.lastQueued.Store(time.Now().UnixNano())
	select {
	case queue <- p:
	default:
		outcomes.WithLabelValues("dropped").Inc()
	}
}

func (s *queueSink) drain(ctx context.Context) {
	defer func() {
		running.Lock()
		delete(running.sinks, s)
		running.Unlock()
	}()
	for ctx.Err() == nil {
		var p *pending
		select {
		case p = <-s.warnings:
		default:
			select {
			case <-ctx.Done():
				return
			case p = <-s.warnings:
			case p = <-s.normal:
			}
		}
		if p.typ != corev1.EventTypeWarning {
			s.yieldToBurst(ctx)
		}
		outcomes.WithLabelValues(s.writeWithRetries(ctx, p)).Inc()
		s.lastWritten = time.Now()
	}
}

// yieldToBurst waits while events keep arriving, until the recorder has been
// quiet for s.yield or one s.yield has passed since the last write.
func (s *queueSink) yieldToBurst(ctx context.Context) {
	for s.yield > 0 {
		now := time.Now()
		quiet := now.Sub(time.Unix(0, s.lastQueued.Load()))
		sinceWrite := now.Sub(s.lastWritten)
		if quiet >= s.yield || sinceWrite >= s.yield {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(s.yield-quiet, s.yield-sinceWrite)):
		}
	}
}

// writeWithRetries retries while the apiserver is unreachable (1 s doubling
// to 30 s, at most maxTries) and gives up on an answer that refuses the event.
func (s *queueSink) writeWithRetries(ctx context.Context, p *pending) string {
	log := ctrl.LoggerFrom(ctx).WithName("events")
	wait := time.Second
	for try := 1; ; try++ {
		err := s.send(ctx, s.build(p))
		if err == nil {
			return "written"
		}
		if ctx.Err() != nil {
			return "failed" // stopping: the queue's rest is lost too
		}
		var status apierrors.APIStatus
		if errors.As(err, &status) || try == maxTries {
			log.Error(err, "event not written", "reason", p.reason, "regarding", p.regarding.Name, "tries", try)
			return "failed"
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// send creates a new event, or patches a repeat's count onto its series,
// creating the series if its first event never arrived (dropped, or deleted
// since), as client-go's own sink does.
func (s *queueSink) send(ctx context.Context, e *eventsv1.Event) error {
	events := s.api.Events(e.Namespace)
	if e.Series != nil {
		patch, err := json.Marshal(map[string]any{"series": e.Series})
		if err != nil {
			return err
		}
		_, err = events.Patch(ctx, e.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if !apierrors.IsNotFound(err) {
			return err
		}
	}
	_, err := events.Create(ctx, e, metav1.CreateOptions{})
	return err
}
