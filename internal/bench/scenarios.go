package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/ptr"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/simulator"
)

// window is a phase of the run, to bucket the audit and API logs by time.
type window struct{ from, to time.Time }

func (w window) has(t time.Time) bool { return !t.Before(w.from) && !t.After(w.to) }

func imsiOf(prefix, i int) string { return fmt.Sprintf("2387%d%010d", prefix, i) }

// benchSIM is a SIM as `kubectl apply` creates it: with the
// last-applied-configuration annotation holding the manifest again.
func benchSIM(ns string, prefix, i int) *v1alpha1.SIM {
	s := &v1alpha1.SIM{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "SIM"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("sim-%d-%06d", prefix, i)},
		Spec: v1alpha1.SIMSpec{IMSI: imsiOf(prefix, i), SIMSettings: v1alpha1.SIMSettings{
			Voice: ptr.To(true), SMS: ptr.To(true), Data: ptr.To(true)}},
	}
	manifest, _ := json.Marshal(map[string]any{"apiVersion": s.APIVersion, "kind": s.Kind,
		"metadata": map[string]any{"name": s.Name, "namespace": s.Namespace}, "spec": s.Spec})
	s.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(manifest) + "\n"}
	return s
}

// parallel runs fn for 0..n-1 on the configured number of workers.
func (e *env) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(e.cfg.Concurrency, 1))
	for i := range n {
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}

// floor times the writes each SIM minimally needs, from a plain client with
// the operator's QPS, burst and concurrency, on SIMs no operator watches:
// create, claim, finalizer patch and status patch, or without the patch
// when the finalizer policy sets the finalizer at create (policy).
func (e *env) floor(ctx context.Context, policy bool) (*FloorResult, error) {
	// Warm the client (discovery, REST mapping, connections) outside the timing.
	warm := benchSIM(nsFloor, 9, 0)
	if err := e.admin.Create(ctx, warm); err != nil {
		return nil, err
	}
	if err := e.admin.Delete(ctx, warm); err != nil {
		return nil, err
	}
	var profile sync.WaitGroup
	if e.cfg.Profile {
		profile.Go(func() { e.profile("", "cpu-apiserver-floor.pprof", 15*time.Second) })
	}
	defer profile.Wait()
	start, cpu := time.Now(), sampleCPU()
	err := e.parallel(ctx, e.cfg.SIMs, func(ctx context.Context, i int) error {
		s := benchSIM(nsFloor, 1, i)
		if err := e.admin.Create(ctx, s); err != nil {
			return err
		}
		claim := &v1alpha1.Claim{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("floor-%d", i)}, Spec: v1alpha1.ClaimSpec{
			Organisation: "https://floor#0000", Kind: "SIM", Identifier: "imsi:" + s.Spec.IMSI,
			Holder: v1alpha1.ClaimHolder{Namespace: s.Namespace, Name: s.Name, UID: s.UID}}}
		if err := e.admin.Create(ctx, claim); err != nil {
			return err
		}
		if policy && !slices.Contains(s.Finalizers, controller.Finalizer) {
			return fmt.Errorf("SIM %s created without the policy's finalizer", s.Name)
		} else if !policy {
			base := s.DeepCopy()
			s.Finalizers = []string{controller.Finalizer}
			if err := e.admin.Patch(ctx, s, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
				return err
			}
		}
		base := s.DeepCopy()
		s.Status = typicalStatus(s)
		return e.admin.Status().Patch(ctx, s, client.MergeFrom(base))
	})
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	d := time.Since(start)
	writes := 4
	if policy {
		writes = 3
	}
	return &FloorResult{Seconds: d.Seconds(), Writes: writes * e.cfg.SIMs, CPUSeconds: sampleCPU().since(cpu)}, nil
}

// typicalStatus is the status the operator writes for a new SIM.
func typicalStatus(s *v1alpha1.SIM) v1alpha1.SIMStatus {
	now := metav1.Now()
	st := v1alpha1.SIMStatus{
		Binding: &v1alpha1.SIMBinding{IMSI: s.Spec.IMSI},
		AtProvider: &v1alpha1.SIMObservation{IMSI: s.Spec.IMSI, SIMSettings: v1alpha1.SIMSettings{
			Voice: ptr.To(true), SMS: ptr.To(true), Data: ptr.To(true), DataThrottling: ptr.To(false)}},
	}
	st.ObservedGeneration = s.Generation
	st.Conditions = []metav1.Condition{
		{Type: v1alpha1.ConditionSynced, Status: metav1.ConditionTrue, Reason: "ReconcileSuccess", LastTransitionTime: now, ObservedGeneration: s.Generation},
		{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Available", Message: "the SIM in the API matches the spec", LastTransitionTime: now, ObservedGeneration: s.Generation},
	}
	return st
}

// mainScenarios: create, steady state, spec change, with one manager.
func (e *env) mainScenarios(ctx context.Context, res *Results) error {
	m, err := e.startManager(nsMain, "--api-rate=-1")
	if err != nil {
		return err
	}
	defer m.stop()
	peak := &heapPeak{}
	stopSampling := peak.sample(m.metricsAddr)
	defer stopSampling()

	n := e.cfg.SIMs
	e.cfg.Log("create: %d SIMs", n)
	var profile sync.WaitGroup
	if e.cfg.Profile {
		profile.Go(func() { e.profile(m.pprofAddr, "cpu-create.pprof", 15*time.Second) })
		profile.Go(func() { e.profile("", "cpu-apiserver-create.pprof", 15*time.Second) })
	}
	create, cpu := window{from: time.Now()}, sampleCPU()
	if err := e.parallel(ctx, n, func(ctx context.Context, i int) error { return e.admin.Create(ctx, benchSIM(nsMain, 0, i)) }); err != nil {
		return fmt.Errorf("creating SIMs: %w", err)
	}
	created := time.Since(create.from)
	if err := e.waitReady(ctx, nsMain, n, 30*time.Minute, e.progress("create", n)); err != nil {
		return err
	}
	create.to = time.Now()
	res.Create = &ScenarioResult{Seconds: create.to.Sub(create.from).Seconds(), CreateSeconds: created.Seconds(), CPUSeconds: sampleCPU().since(cpu)}
	profile.Wait()
	res.Create.PerSecond = float64(n) / res.Create.Seconds
	res.Create.VsFloor = res.Create.Seconds / res.Floor.Seconds
	if res.FloorSameWrites != nil {
		res.Create.VsFloorSameWrites = res.Create.Seconds / res.FloorSameWrites.Seconds
	}
	e.cfg.Log("create: all %d Ready in %.1fs (%.0f SIMs/s, %.2f× the floor)", n, res.Create.Seconds, res.Create.PerSecond, res.Create.VsFloor)
	if err := e.waitEventsWritten(ctx, m, res.Create, create); err != nil {
		return err
	}
	res.Create.ClientGo = scrapeRestClient(m.metricsAddr)

	// Steady state: exactly one sync period with nothing changed.
	steady := window{from: time.Now()}
	wait := e.cfg.SyncPeriod
	e.cfg.Log("steady: waiting one sync period (%s) with nothing changed", wait.Round(time.Second))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
	}
	steady.to = time.Now()
	res.Steady = &ScenarioResult{Seconds: steady.to.Sub(steady.from).Seconds(), window: steady}

	e.cfg.Log("spec change: data=false on all %d SIMs", n)
	change, cpu := window{from: time.Now()}, sampleCPU()
	patchedAt := make([]time.Time, n)
	if err := e.parallel(ctx, n, func(ctx context.Context, i int) error {
		s := benchSIM(nsMain, 0, i)
		patchedAt[i] = time.Now()
		return e.admin.Patch(ctx, s, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"data":false}}`)))
	}); err != nil {
		return fmt.Errorf("changing SIMs: %w", err)
	}
	if err := e.waitReady(ctx, nsMain, n, 30*time.Minute, e.progress("spec change", n)); err != nil {
		return err
	}
	change.to = time.Now()
	res.SpecChange = &ScenarioResult{Seconds: change.to.Sub(change.from).Seconds(), changedAt: map[string]time.Time{}, CPUSeconds: sampleCPU().since(cpu)}
	for i, t := range patchedAt {
		res.SpecChange.changedAt["/sim/"+imsiOf(0, i)] = t
	}
	res.SpecChange.PerSecond = float64(n) / res.SpecChange.Seconds
	if err := e.waitEventsWritten(ctx, m, res.SpecChange, change); err != nil {
		return err
	}

	res.Memory = &MemoryResult{PeakRSSMiB: peakRSS(m.cmd.Process.Pid), PeakHeapMiB: peak.max()}
	e.cfg.Log("memory: peak RSS %.0f MiB, peak heap %.0f MiB", res.Memory.PeakRSSMiB, res.Memory.PeakHeapMiB)
	return nil
}

// rateLimited: the hosted API's budget (10/s) against the simulator's
// hosted-like limit, then the limit halved mid-run.
func (e *env) rateLimited(ctx context.Context) (*RateLimitedResult, error) {
	n := e.cfg.RateLimitedSIMs
	// A long sync period: drift checks would otherwise share the budget being measured.
	m, err := e.startManager(nsRateLimited, "--api-rate=9.5", "--api-burst=1", "--sync-period=1h")
	if err != nil {
		return nil, err
	}
	defer m.stop()
	e.sim.SetFaults(simulator.Faults{RateLimit: 10, RateLimitWindowSeconds: 1})
	defer e.sim.SetFaults(simulator.Faults{})

	e.cfg.Log("rate limited: %d SIMs at the simulator's 10 requests/s", n)
	a := window{from: time.Now()}
	if err := e.parallel(ctx, n, func(ctx context.Context, i int) error { return e.admin.Create(ctx, benchSIM(nsRateLimited, 2, i)) }); err != nil {
		return nil, err
	}
	if err := e.waitReady(ctx, nsRateLimited, n, 30*time.Minute, e.progress("rate limited", n)); err != nil {
		return nil, err
	}
	a.to = time.Now()
	callsA, tooManyA := e.apiCalls(a)
	res := &RateLimitedResult{SIMs: n, Seconds: a.to.Sub(a.from).Seconds(), Calls: callsA, TooMany: tooManyA}
	res.IdealSeconds = float64(callsA-tooManyA) / 10
	res.VsIdeal = res.Seconds / res.IdealSeconds

	half := n / 2
	e.cfg.Log("rate limited: %d more SIMs; the limit drops to 5/s once a quarter of them are Ready", half)
	b := window{from: time.Now()}
	if err := e.parallel(ctx, half, func(ctx context.Context, i int) error {
		return e.admin.Create(ctx, benchSIM(nsRateLimited, 3, i))
	}); err != nil {
		return nil, err
	}
	lowered := false
	var loweredAt time.Time
	if err := e.waitReady(ctx, nsRateLimited, n+half, 30*time.Minute, func(ready int) {
		if !lowered && ready-n >= half/4 {
			e.sim.UpdateFaults(func(f *simulator.Faults) { f.RateLimit = 5 })
			lowered, loweredAt = true, time.Now()
		}
	}); err != nil {
		return nil, err
	}
	b.to = time.Now()
	if !lowered {
		loweredAt = b.to
	}
	callsBefore, _ := e.apiCalls(window{from: b.from, to: loweredAt})
	callsAfter, tooManyAfter := e.apiCalls(window{from: loweredAt, to: b.to})
	res.LoweredSIMs = half
	res.LoweredSeconds = b.to.Sub(b.from).Seconds()
	res.LoweredTooMany = tooManyAfter
	res.LoweredIdealSeconds = float64(callsBefore)/10 + float64(callsAfter-tooManyAfter)/5
	e.cfg.Log("rate limited: %d SIMs in %.1fs (ideal %.1fs), %d × 429; after lowering: %.1fs (ideal %.1fs), %d × 429",
		n, res.Seconds, res.IdealSeconds, res.TooMany, res.LoweredSeconds, res.LoweredIdealSeconds, res.LoweredTooMany)
	return res, nil
}

// waitEventsWritten waits, after the last SIM was Ready (w.to), until the manager's
// event queue is empty (events trail the status under --event-qps), so that
// the scenario's events are counted with it and the next phase starts quiet.
func (e *env) waitEventsWritten(ctx context.Context, m *manager, s *ScenarioResult, w window) error {
	ready := w.to
	for empty := 0; empty < 2; {
		if v, ok := scrapeMetrics(m.metricsAddr)["sim_operator_events_queued"]; ok && v == 0 {
			empty++
		} else {
			empty = 0
		}
		if time.Since(ready) > 30*time.Minute {
			return fmt.Errorf("the manager's events were still queued 30 minutes after the last SIM was Ready")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	s.window, s.eventsTo = w, time.Now()
	s.EventLagSeconds = s.eventsTo.Sub(ready).Seconds()
	e.cfg.Log("events: all written %.0fs after the last SIM was Ready", s.EventLagSeconds)
	return nil
}

// apiCalls counts the simulator's requests in a window, and the 429s among them.
func (e *env) apiCalls(w window) (calls, tooMany int) {
	for _, r := range e.sim.Requests() {
		if w.has(r.Time) {
			calls++
			if r.Status == http.StatusTooManyRequests {
				tooMany++
			}
		}
	}
	return calls, tooMany
}

func (e *env) progress(phase string, n int) func(int) {
	last := time.Now()
	return func(ready int) {
		if time.Since(last) >= 5*time.Second {
			e.cfg.Log("%s: %d/%d Ready", phase, ready, n)
			last = time.Now()
		}
	}
}

// profile saves a CPU profile of the manager (at its pprof address) or,
// with addr empty, of kube-apiserver.
func (e *env) profile(addr, name string, d time.Duration) {
	e.save(addr, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())), name)
}

// save writes what a pprof path of the manager (at addr) or, with addr
// empty, of kube-apiserver answers to name in the work directory.
func (e *env) save(addr, path, name string) {
	hc, url := http.DefaultClient, "http://"+addr+path
	if addr == "" {
		var err error
		if hc, err = rest.HTTPClientFor(e.restCfg); err != nil {
			e.cfg.Log("profile: %v", err)
			return
		}
		url = strings.TrimSuffix(e.restCfg.Host, "/") + path
	}
	resp, err := hc.Get(url)
	if err != nil {
		e.cfg.Log("profile: %v", err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	f, err := os.Create(filepath.Join(e.cfg.WorkDir, name))
	if err != nil {
		return
	}
	defer func() { _ = f.Close() }()
	_, _ = io.Copy(f, resp.Body)
	e.cfg.Log("profile: wrote %s", f.Name())
}

// heapPeak samples the manager's heap from its metrics every half second.
type heapPeak struct {
	mu   sync.Mutex
	peak float64
}

func (h *heapPeak) sample(addr string) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if v, ok := scrapeMetrics(addr)["go_memstats_heap_inuse_bytes"]; ok {
				h.mu.Lock()
				h.peak = max(h.peak, v)
				h.mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	return func() { close(stop); <-done }
}

func (h *heapPeak) max() float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.peak / (1 << 20)
}

// scrapeMetrics reads the manager's Prometheus text, keyed by name{labels}.
func scrapeMetrics(addr string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// scrapeRestClient returns client-go's request counts by method.
func scrapeRestClient(addr string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range scrapeMetrics(addr) {
		if strings.HasPrefix(k, "rest_client_requests_total{") {
			if i := strings.Index(k, `method="`); i >= 0 {
				method := k[i+8:]
				method = method[:strings.IndexByte(method, '"')]
				out[method] += v
			}
		}
	}
	return out
}

// peakRSS is the process's high-water resident set (VmHWM), in MiB.
func peakRSS(pid int) float64 { return procStatusMiB(pid, "VmHWM:") }

// rss is the process's resident set now (VmRSS), in MiB.
func rss(pid int) float64 { return procStatusMiB(pid, "VmRSS:") }

func procStatusMiB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}

// auditEvent is the part of an audit log line the counts need.
type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
}

// scanAudit calls fn with each request of the audit log about an object.
func scanAudit(path string, fn func(ev *auditEvent)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev auditEvent
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.ObjectRef != nil {
			fn(&ev)
		}
	}
	return sc.Err()
}

// apiserverRequests counts the manager's requests in the audit log by
// verb and resource[/subresource], per window.
func apiserverRequests(path string, windows ...window) ([]map[string]int, error) {
	out := make([]map[string]int, len(windows))
	for i := range out {
		out[i] = map[string]int{}
	}
	err := scanAudit(path, func(ev *auditEvent) {
		if ev.User.Username != operatorUser {
			return
		}
		res := ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			res += "/" + ev.ObjectRef.Subresource
		}
		for i, w := range windows {
			if w.has(ev.RequestReceivedTimestamp) {
				out[i][ev.Verb+" "+res]++
			}
		}
	})
	return out, err
}
