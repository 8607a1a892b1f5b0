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
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	eventsclient "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/flowcontrol"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
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

// running are the started sinks, whose queues the gauge sums at scrape time.
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
type Recorder struct {
	recorder.EventRecorder
	broadcaster events.EventBroadcaster
	sink        *queueSink
	stop        context.CancelFunc
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
	sink := &queueSink{api: &events.EventSinkImpl{Interface: client}, warnings: make(chan write, size), normal: make(chan write, size), yield: o.Yield}
	b := events.NewBroadcaster(sink)
	rec, ok := b.NewRecorder(scheme, component).(recorder.EventRecorder)
	if !ok {
		return nil, errors.New("client-go's event recorder no longer records annotated events")
	}
	// Listen now, so that no event recorded before Start is lost: the queue
	// holds them until Start writes them.
	listening, stop := context.WithCancel(context.Background())
	if err := b.StartRecordingToSinkWithContext(listening); err != nil {
		stop()
		return nil, err
	}
	return &Recorder{EventRecorder: rec, broadcaster: b, sink: sink, stop: stop}, nil
}

// Start writes events until ctx ends; events still queued then are lost.
func (r *Recorder) Start(ctx context.Context) error {
	defer r.broadcaster.Shutdown()
	defer r.stop()
	r.sink.drain(ctx)
	return nil
}

// NeedLeaderElection is false: a standby replica records nothing, and the
// leader's controllers must find the recorder running.
func (r *Recorder) NeedLeaderElection() bool { return false }

// write is one queued request: a create, or a patch of an event series.
type write struct {
	event *eventsv1.Event
	patch []byte
}

// queueSink is the broadcaster's sink: it queues and returns at once, and
// drain writes through the rate-limited client, warnings first, each type in
// order (a series update stays behind its first event: they share a type).
type queueSink struct {
	api      events.EventSink
	warnings chan write
	normal   chan write
	// yield is Options.Yield; lastQueued (unix nanoseconds) is when the
	// latest event arrived, lastWritten when the drainer last wrote one.
	yield       time.Duration
	lastQueued  atomic.Int64
	lastWritten time.Time
}

var _ events.EventSink = &queueSink{}

func (s *queueSink) enqueue(w write) (*eventsv1.Event, error) {
	queue := s.normal
	if w.event.Type == corev1.EventTypeWarning {
		queue = s.warnings
	}
	s.lastQueued.Store(time.Now().UnixNano())
	select {
	case queue <- w:
	default:
		outcomes.WithLabelValues("dropped").Inc()
	}
	return w.event, nil
}

// Create queues a new event.
func (s *queueSink) Create(_ context.Context, e *eventsv1.Event) (*eventsv1.Event, error) {
	return s.enqueue(write{event: e})
}

// Update queues a replacement; the broadcaster does not use it today.
func (s *queueSink) Update(_ context.Context, e *eventsv1.Event) (*eventsv1.Event, error) {
	return s.enqueue(write{event: e})
}

// Patch queues a series update (a repeated event counts up instead of adding one).
func (s *queueSink) Patch(_ context.Context, e *eventsv1.Event, data []byte) (*eventsv1.Event, error) {
	return s.enqueue(write{event: e, patch: data})
}

func (s *queueSink) drain(ctx context.Context) {
	running.Lock()
	running.sinks[s] = struct{}{}
	running.Unlock()
	defer func() {
		running.Lock()
		delete(running.sinks, s)
		running.Unlock()
	}()
	for ctx.Err() == nil {
		var w write
		select {
		case w = <-s.warnings:
		default:
			select {
			case <-ctx.Done():
				return
			case w = <-s.warnings:
			case w = <-s.normal:
			}
		}
		if w.event.Type != corev1.EventTypeWarning {
			s.yieldToBurst(ctx)
		}
		outcomes.WithLabelValues(s.writeWithRetries(ctx, w)).Inc()
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
func (s *queueSink) writeWithRetries(ctx context.Context, w write) string {
	log := ctrl.LoggerFrom(ctx).WithName("events")
	wait := time.Second
	for try := 1; ; try++ {
		err := s.send(ctx, w)
		if err == nil {
			return "written"
		}
		if ctx.Err() != nil {
			return "failed" // stopping: the queue's rest is lost too
		}
		var status apierrors.APIStatus
		if errors.As(err, &status) || try == maxTries {
			log.Error(err, "event not written", "reason", w.event.Reason, "regarding", w.event.Regarding.Name, "tries", try)
			return "failed"
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// send patches a series, creating it if its first event never arrived
// (dropped, or deleted since), as client-go's own sink does.
func (s *queueSink) send(ctx context.Context, w write) error {
	if w.patch != nil {
		_, err := s.api.Patch(ctx, w.event, w.patch)
		if !apierrors.IsNotFound(err) {
			return err
		}
	}
	e := w.event.DeepCopy()
	e.ResourceVersion = ""
	_, err := s.api.Create(ctx, e)
	return err
}
