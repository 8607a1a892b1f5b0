package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/internal/simulator"
)

// CurveResults is the cost curve: the create phase, a restart and a failover
// at each fleet size, each on fresh control planes.
type CurveResults struct {
	Machine string    `json:"machine"`
	Started time.Time `json:"started"`
	// AdmissionPolicy: the operator's control planes had the finalizer policy.
	AdmissionPolicy bool         `json:"admissionPolicy"`
	Points          []CurvePoint `json:"points"`
}

// CurvePoint is one fleet size.
type CurvePoint struct {
	SIMs int `json:"sims"`
	// FloorSeconds is the floor of four writes per SIM: create, claim,
	// finalizer patch, status patch.
	FloorSeconds float64 `json:"floorSeconds"`
	// FloorSameWritesSeconds is, with the admission policy, the floor of
	// the three writes the operator then makes (the create carries the
	// finalizer), on a control plane with the policy.
	FloorSameWritesSeconds float64 `json:"floorSameWritesSeconds,omitempty"`
	// CreateSeconds is from the first create until all N are Ready.
	CreateSeconds float64 `json:"createSeconds"`
	VsFloor       float64 `json:"vsFloor"`
	// VsFloorSameWrites is CreateSeconds over FloorSameWritesSeconds.
	VsFloorSameWrites float64 `json:"vsFloorSameWrites,omitempty"`
	// APICalls and Writes per SIM during the create phase (writes exclude
	// events, which trail the status under --event-qps; EventsQueued were
	// still waiting when the last SIM was Ready).
	APICalls float64 `json:"apiCallsPerSIM"`
	// APICallsByMethod splits APICalls: POST is the creates; a GET is a
	// drift check that fell due before the phase ended (a SIM's first comes
	// 0.5-1.5 sync periods after it is created).
	APICallsByMethod map[string]float64 `json:"apiCallsPerSIMByMethod,omitempty"`
	Writes           float64            `json:"writesPerSIM"`
	EventsQueued     float64            `json:"eventsQueued"`
	// BaseRSSMiB is the manager's RSS once its caches synced on an empty
	// fleet; PeakRSSMiB its high-water mark until all N were Ready, and
	// BytesPerSIM the difference over N.
	BaseRSSMiB  float64 `json:"baseRSSMiB"`
	PeakRSSMiB  float64 `json:"peakRSSMiB"`
	PeakHeapMiB float64 `json:"peakHeapInuseMiB"`
	BytesPerSIM float64 `json:"bytesPerSIM"`
	// ApiserverCPUmsPerSIM is kube-apiserver's CPU time in the create phase, per SIM.
	ApiserverCPUmsPerSIM float64 `json:"apiserverCPUmsPerSIM"`
	// ManagerCPUmsPerSIM is the manager's.
	ManagerCPUmsPerSIM float64         `json:"managerCPUmsPerSIM"`
	Restart            *RestartResult  `json:"restart"`
	Failover           *FailoverResult `json:"failover"`
}

// RestartResult is the manager killed with N in-sync SIMs and started again
// with the hosted API's budget, which the fleet's drift checks oversubscribe.
type RestartResult struct {
	APIRate float64 `json:"apiRate"`
	// WorkingSeconds is from the process start until its workers ran (caches synced).
	WorkingSeconds float64 `json:"workingSeconds"`
	// FirstChangeSeconds is from the process start until the PUT of a spec
	// change patched at that moment reached the API (-1: it never did).
	FirstChangeSeconds float64 `json:"firstChangeSeconds"`
	// ChangeSeconds are, for spec changes patched every 10 s of the first
	// minute afterwards (every sixth of Config.RestartWindow), the time from
	// patch to PUT.
	ChangeSeconds []float64 `json:"changeSeconds"`
	// CallsFirstMinute are the API calls of its first minute, changes
	// included; PeakCallsPerSecond the busiest second.
	CallsFirstMinute   int `json:"callsFirstMinute"`
	PeakCallsPerSecond int `json:"peakCallsPerSecond"`
	// WritesFirstMinute are its apiserver writes (events excluded) in the
	// first minute; each spec change costs one status write, so
	// WritesFirstMinute − Changes is what the restart itself wrote.
	WritesFirstMinute int `json:"writesFirstMinute"`
	Changes           int `json:"changes"`
	// DriftPeriodSeconds is the effective drift period the manager settled on.
	DriftPeriodSeconds float64 `json:"driftPeriodSeconds"`

	window window // the first minute
}

// FailoverResult is two replicas with leader election, the leader killed
// (SIGKILL: no Lease released) a quarter of the way through a spec change of
// every SIM.
type FailoverResult struct {
	// FirstCallSeconds is from the kill until the new leader's first API
	// call (-1: none).
	FirstCallSeconds float64 `json:"firstCallSeconds"`
	// PUTsBeforeKill were made by the old leader.
	PUTsBeforeKill int `json:"putsBeforeKill"`
	// Twice are SIMs PUT more than once, Skipped SIMs never PUT.
	Twice   int `json:"twice"`
	Skipped int `json:"skipped"`
	// Seconds is from the first patch until all N were Ready again.
	Seconds float64 `json:"seconds"`
	// HandOverSeconds is, in a rolling update (the leader stopped gracefully,
	// releasing the Lease, with a warm replica waiting), from the SIGTERM
	// until the new leader's first API call.
	HandOverSeconds float64 `json:"handOverSeconds"`
}

// Curve measures each fleet size in turn.
func Curve(ctx context.Context, c Config, sizes []int) (*CurveResults, error) {
	c = c.withDefaults()
	res := &CurveResults{Machine: machine(), Started: time.Now().UTC(), AdmissionPolicy: c.AdmissionPolicy}
	for _, n := range sizes {
		c.SIMs = n
		p, err := curvePoint(ctx, c)
		if err != nil {
			return res, fmt.Errorf("%d SIMs: %w", n, err)
		}
		res.Points = append(res.Points, *p)
	}
	return res, nil
}

// curvePoint measures one fleet size: the floor on a control plane of its
// own, then the operator's create, restart and failover on another.
func curvePoint(ctx context.Context, c Config) (*CurvePoint, error) {
	n := c.SIMs
	p := &CurvePoint{SIMs: n}
	if !slices.Contains(c.CurveSkip, "floor") {
		c.Log("curve: %d SIMs: floor", n)
		floor, sameWrites, err := runFloors(ctx, c)
		if err != nil {
			return nil, err
		}
		p.FloorSeconds = floor.Seconds
		if sameWrites != nil {
			p.FloorSameWritesSeconds = sameWrites.Seconds
		}
	}
	e := &env{cfg: c}
	if err := e.start(ctx); err != nil {
		return nil, err
	}
	defer e.stop()
	create, err := e.curveCreate(ctx, p)
	if err != nil {
		return nil, err
	}
	if p.Restart, err = e.restart(ctx); err != nil {
		return nil, err
	}
	if !slices.Contains(c.CurveSkip, "failover") {
		if p.Failover, err = e.failover(ctx); err != nil {
			return nil, err
		}
	}
	e.stop() // flushes the audit log
	audit, err := apiserverRequests(e.auditLog, create, p.Restart.window)
	if err != nil {
		return nil, err
	}
	p.Writes = float64(writes(audit[0])) / float64(n)
	p.Restart.WritesFirstMinute = writes(audit[1])
	c.Log("curve: %d SIMs: %.1fs (%.2f× the floor %.1fs, %.2f× the same writes' %.1fs), %.2f calls and %.2f writes per SIM, peak RSS %.0f MiB (%.0f bytes/SIM)",
		n, p.CreateSeconds, p.VsFloor, p.FloorSeconds, p.VsFloorSameWrites, p.FloorSameWritesSeconds, p.APICalls, p.Writes, p.PeakRSSMiB, p.BytesPerSIM)
	return p, nil
}

// writes sums the non-event writes of an audit count; Leases are the
// election's heartbeat, not the fleet's cost.
func writes(counts map[string]int) int {
	w := 0
	for k, v := range counts {
		if isWrite(k) && !isEvent(k) && !isLease(k) {
			w += v
		}
	}
	return w
}

// curveCreate creates N SIMs with a fresh manager and leaves them in sync;
// the manager is killed at the end, as the restart that follows expects.
func (e *env) curveCreate(ctx context.Context, p *CurvePoint) (window, error) {
	n := e.cfg.SIMs
	m, err := e.startManager(nsMain, "--api-rate=-1")
	if err != nil {
		return window{}, err
	}
	defer m.kill()
	p.BaseRSSMiB = rss(m.cmd.Process.Pid)
	peak := &heapPeak{}
	stopSampling := peak.sample(m.metricsAddr)
	defer stopSampling()
	e.cfg.Log("curve: %d SIMs: create", n)
	if e.cfg.Profile {
		var profile sync.WaitGroup
		defer profile.Wait()
		profile.Go(func() { e.profile(m.pprofAddr, fmt.Sprintf("cpu-create-%d.pprof", n), 15*time.Second) })
		profile.Go(func() { e.profile("", fmt.Sprintf("cpu-apiserver-create-%d.pprof", n), 15*time.Second) })
	}
	create, cpu := window{from: time.Now()}, sampleCPU()
	if err := e.parallel(ctx, n, func(ctx context.Context, i int) error { return e.admin.Create(ctx, benchSIM(nsMain, 0, i)) }); err != nil {
		return window{}, fmt.Errorf("creating SIMs: %w", err)
	}
	if err := e.waitReady(ctx, nsMain, n, time.Hour, e.progress("create", n)); err != nil {
		return window{}, err
	}
	create.to = time.Now()
	used := sampleCPU().since(cpu)
	p.CreateSeconds = create.to.Sub(create.from).Seconds()
	if p.FloorSeconds > 0 {
		p.VsFloor = p.CreateSeconds / p.FloorSeconds
	}
	if p.FloorSameWritesSeconds > 0 {
		p.VsFloorSameWrites = p.CreateSeconds / p.FloorSameWritesSeconds
	}
	calls, byMethod := 0, map[string]int{}
	for _, q := range e.sim.Requests() {
		if create.has(q.Time) {
			calls++
			byMethod[q.Method]++
		}
	}
	p.APICalls, p.APICallsByMethod = float64(calls)/float64(n), perSIM(byMethod, float64(n))
	p.EventsQueued = scrapeMetrics(m.metricsAddr)["sim_operator_events_queued"]
	p.PeakRSSMiB, p.PeakHeapMiB = peakRSS(m.cmd.Process.Pid), peak.max()
	p.BytesPerSIM = (p.PeakRSSMiB - p.BaseRSSMiB) * (1 << 20) / float64(n)
	p.ApiserverCPUmsPerSIM = used["kube-apiserver"] * 1000 / float64(n)
	p.ManagerCPUmsPerSIM = used["manager"] * 1000 / float64(n)
	e.save(m.pprofAddr, "/debug/pprof/heap", fmt.Sprintf("heap-%d.pprof", n))
	return create, nil
}

// restartRate is the budget of the restarted manager: the hosted API's.
const restartRate = 10

// restart starts a manager on the in-sync fleet the previous one left, with
// the hosted API's budget, and patches a SIM at once and then one every 10 s:
// how soon each change reaches the API while the drift checks of N SIMs
// would ask for more than the budget.
func (e *env) restart(ctx context.Context) (*RestartResult, error) {
	e.cfg.Log("curve: %d SIMs: restart at %d calls/s", e.cfg.SIMs, restartRate)
	m, err := e.launchManager(nsMain, fmt.Sprintf("--api-rate=%d", restartRate), "--api-burst=1")
	if err != nil {
		return nil, err
	}
	defer m.stop()
	if e.cfg.Profile { // from the start: where the seconds before the first change go
		var profile sync.WaitGroup
		defer profile.Wait()
		profile.Go(func() {
			if m.waitFor(10*time.Second, m.serving) == nil {
				e.profile(m.pprofAddr, fmt.Sprintf("cpu-restart-%d.pprof", e.cfg.SIMs), 15*time.Second)
			}
		})
		profile.Go(func() { e.profile("", fmt.Sprintf("cpu-apiserver-restart-%d.pprof", e.cfg.SIMs), 15*time.Second) })
	}
	res := &RestartResult{APIRate: restartRate}
	var patched []time.Time
	change := func(i int) error {
		patched = append(patched, time.Now())
		return e.admin.Patch(ctx, benchSIM(nsMain, 0, i), client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"data":false}}`)))
	}
	if err := change(0); err != nil {
		return nil, err
	}
	if err := m.waitFor(10*time.Minute, m.working); err != nil {
		return nil, err
	}
	res.WorkingSeconds = time.Since(m.started).Seconds()
	watched := cmp.Or(e.cfg.RestartWindow, time.Minute)
	minute := window{from: m.started, to: m.started.Add(watched)}
	for i := 1; time.Now().Add(watched/6).Before(minute.to) && i < e.cfg.SIMs; i++ {
		if err := sleep(ctx, watched/6); err != nil {
			return nil, err
		}
		if err := change(i); err != nil {
			return nil, err
		}
	}
	if err := sleep(ctx, time.Until(minute.to.Add(watched/12))); err != nil {
		return nil, err
	}
	res.DriftPeriodSeconds = scrapeMetrics(m.metricsAddr)[`sim_operator_drift_period_seconds{account="default",kind="SIM"}`]
	reqs := e.sim.Requests()
	perSecond := map[int64]int{}
	for _, q := range reqs {
		if minute.has(q.Time) {
			res.CallsFirstMinute++
			perSecond[q.Time.Unix()]++
		}
	}
	for _, c := range perSecond {
		res.PeakCallsPerSecond = max(res.PeakCallsPerSecond, c)
	}
	res.FirstChangeSeconds = firstPUT(reqs, "/sim/"+imsiOf(0, 0), m.started)
	for i, at := range patched[1:] {
		res.ChangeSeconds = append(res.ChangeSeconds, firstPUT(reqs, "/sim/"+imsiOf(0, i+1), at))
	}
	res.Changes = len(patched)
	res.window = minute
	e.cfg.Log("curve: restart: working after %.1fs, first change at the API after %.1fs, later changes %v, %d calls in the first minute (busiest second %d), drift period %.0fs",
		res.WorkingSeconds, res.FirstChangeSeconds, res.ChangeSeconds, res.CallsFirstMinute, res.PeakCallsPerSecond, res.DriftPeriodSeconds)
	return res, nil
}

// never stands for a time that never came (JSON has no NaN).
const never = -1

// firstPUT is the seconds from at until the first PUT on path (never: none).
func firstPUT(reqs []simulator.Request, path string, at time.Time) float64 {
	for _, q := range reqs {
		if q.Method == http.MethodPut && q.Path == path && !q.Time.Before(at) {
			return q.Time.Sub(at).Seconds()
		}
	}
	return never
}

// failover runs two replicas with leader election, changes every SIM and
// kills the leader once a quarter of the changes reached the API.
func (e *env) failover(ctx context.Context) (*FailoverResult, error) {
	n := e.cfg.SIMs
	e.cfg.Log("curve: %d SIMs: failover", n)
	args := []string{"--leader-elect", "--leader-election-namespace=" + nsMain, "--api-rate=-1"}
	leader, err := e.startManager(nsMain, args...)
	if err != nil {
		return nil, err
	}
	defer leader.stop()
	standby, err := e.launchManager(nsMain, args...)
	if err != nil {
		return nil, err
	}
	defer standby.stop()
	if err := standby.waitFor(10*time.Minute, standby.warm); err != nil {
		return nil, err
	}
	res := &FailoverResult{}
	w := window{from: time.Now()}
	var killedAt atomic.Pointer[time.Time]
	go func() {
		for ctx.Err() == nil && killedAt.Load() == nil {
			if e.putsSince(w.from) >= n/4 {
				leader.kill()
				now := time.Now()
				killedAt.Store(&now)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	if err := e.parallel(ctx, n, func(ctx context.Context, i int) error {
		return e.admin.Patch(ctx, benchSIM(nsMain, 0, i), client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"voice":false}}`)))
	}); err != nil {
		return nil, err
	}
	if err := e.waitReady(ctx, nsMain, n, time.Hour, e.progress("failover", n)); err != nil {
		return nil, err
	}
	w.to = time.Now()
	res.Seconds = w.to.Sub(w.from).Seconds()
	killed := killedAt.Load()
	if killed == nil {
		return nil, fmt.Errorf("the leader was never killed")
	}
	puts := map[string]int{}
	res.FirstCallSeconds = never
	for _, q := range e.sim.Requests() {
		if !w.has(q.Time) {
			continue
		}
		if q.Time.After(*killed) && res.FirstCallSeconds == never {
			res.FirstCallSeconds = q.Time.Sub(*killed).Seconds()
		}
		if q.Method == http.MethodPut {
			puts[q.Path]++
			if q.Time.Before(*killed) {
				res.PUTsBeforeKill++
			}
		}
	}
	for i := range n {
		switch puts["/sim/"+imsiOf(0, i)] {
		case 0:
			res.Skipped++
		case 1:
		default:
			res.Twice++
		}
	}
	e.cfg.Log("curve: failover: the new leader's first call %.1fs after the kill; %d PUT before it; %d SIMs PUT twice, %d never; all Ready in %.1fs",
		res.FirstCallSeconds, res.PUTsBeforeKill, res.Twice, res.Skipped, res.Seconds)
	if res.HandOverSeconds, err = e.handOver(ctx, standby, args); err != nil {
		return nil, err
	}
	e.cfg.Log("curve: a graceful stop of the leader: the next one's first call %.1fs after SIGTERM", res.HandOverSeconds)
	return res, nil
}

// handOver is a rolling update's step: a new replica waits warm, the leader
// is stopped gracefully (it releases the Lease), and a few SIMs change at
// once. It returns the seconds from the SIGTERM to the new leader's first
// API call.
func (e *env) handOver(ctx context.Context, leader *manager, args []string) (float64, error) {
	next, err := e.launchManager(nsMain, args...)
	if err != nil {
		return 0, err
	}
	defer next.stop()
	if err := next.waitFor(10*time.Minute, next.warm); err != nil {
		return 0, err
	}
	stopped := time.Now()
	leader.stop()
	k := min(e.cfg.SIMs, 100)
	if err := e.parallel(ctx, k, func(ctx context.Context, i int) error {
		return e.admin.Patch(ctx, benchSIM(nsMain, 0, i), client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"voice":true}}`)))
	}); err != nil {
		return 0, err
	}
	if err := e.waitReady(ctx, nsMain, e.cfg.SIMs, time.Hour, e.progress("hand-over", e.cfg.SIMs)); err != nil {
		return 0, err
	}
	for _, q := range e.sim.Requests() {
		if q.Time.After(stopped) {
			return q.Time.Sub(stopped).Seconds(), nil
		}
	}
	return never, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// putsSince counts the PUTs the API received since t.
func (e *env) putsSince(t time.Time) int {
	n := 0
	for _, q := range e.sim.Requests() {
		if q.Method == http.MethodPut && !q.Time.Before(t) {
			n++
		}
	}
	return n
}

// WriteJSON writes the curve to path.
func (r *CurveResults) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadCurve reads a curve written by WriteJSON.
func ReadCurve(path string) (*CurveResults, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r CurveResults
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Print writes the curve as tables.
func (r *CurveResults) Print(w io.Writer) {
	fmt.Fprintf(w, "sim-operator cost curve (%s), finalizer admission policy: %t\n\n", r.Machine, r.AdmissionPolicy)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SIMs\tfloor s\tsame writes' floor s\tcreate s\t× floor\t× same writes\tAPI calls/SIM\twrites/SIM\tpeak RSS MiB\tbytes/SIM\tapiserver CPU ms/SIM\tmanager CPU ms/SIM\t")
	for _, p := range r.Points {
		fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f\t%.0f\t%.2f\t%.2f\t\n", p.SIMs, p.FloorSeconds, p.FloorSameWritesSeconds, p.CreateSeconds,
			p.VsFloor, p.VsFloorSameWrites, p.APICalls, p.Writes, p.PeakRSSMiB, p.BytesPerSIM, p.ApiserverCPUmsPerSIM, p.ManagerCPUmsPerSIM)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nrestart (killed, started again at %d calls/s):\n", restartRate)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SIMs\tworking after s\tfirst change s\tlater changes s (max)\tcalls 1st min\tbusiest s\twrites 1st min − changes\tdrift period s\t")
	for _, p := range r.Points {
		if rs := p.Restart; rs != nil {
			fmt.Fprintf(tw, "%d\t%.1f\t%.2f\t%.2f\t%d\t%d\t%d\t%.0f\t\n", p.SIMs, rs.WorkingSeconds, rs.FirstChangeSeconds, slices.Max(append([]float64{0}, rs.ChangeSeconds...)),
				rs.CallsFirstMinute, rs.PeakCallsPerSecond, rs.WritesFirstMinute-rs.Changes, rs.DriftPeriodSeconds)
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nfailover (two replicas, leader SIGKILLed a quarter into a change of every SIM; then a third replica and a graceful stop):\n")
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SIMs\tfirst call after kill s\tPUT before kill\tPUT twice\tnever PUT\tall Ready s\tgraceful hand-over: first call after SIGTERM s\t")
	for _, p := range r.Points {
		if f := p.Failover; f != nil {
			fmt.Fprintf(tw, "%d\t%.1f\t%d\t%d\t%d\t%.1f\t%.1f\t\n", p.SIMs, f.FirstCallSeconds, f.PUTsBeforeKill, f.Twice, f.Skipped, f.Seconds, f.HandOverSeconds)
		}
	}
	_ = tw.Flush()
}
