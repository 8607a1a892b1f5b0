package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Results is what a run measured; it is also written as JSON.
type Results struct {
	SIMs        int     `json:"sims"`
	SyncPeriod  string  `json:"syncPeriod"`
	KubeQPS     float64 `json:"kubeQPS"`
	KubeBurst   int     `json:"kubeBurst"`
	EventQPS    float64 `json:"eventQPS"`
	EventBurst  int     `json:"eventBurst"`
	Concurrency int     `json:"concurrency"`
	// AdmissionPolicy: the operator's control plane had the finalizer policy.
	AdmissionPolicy bool      `json:"admissionPolicy"`
	Machine         string    `json:"machine"`
	Started         time.Time `json:"started"`
	Finished        time.Time `json:"finished"`

	Floor *FloorResult `json:"floor"`
	// FloorSameWrites is, with the admission policy, the floor of the three
	// writes the operator then makes (the create carries the finalizer).
	FloorSameWrites *FloorResult       `json:"floorSameWrites,omitempty"`
	Create          *ScenarioResult    `json:"create"`
	Steady          *ScenarioResult    `json:"steady"`
	SpecChange      *ScenarioResult    `json:"specChange"`
	Memory          *MemoryResult      `json:"memory"`
	RateLimited     *RateLimitedResult `json:"rateLimited,omitempty"`
	// Accounts is the two-account run.
	Accounts *AccountsResult `json:"accounts,omitempty"`
	// Current is the current edition's scenario.
	Current *CurrentResult `json:"current,omitempty"`
	// Sharded is two shards of one cluster's fleet.
	Sharded *ShardedResult `json:"sharded,omitempty"`
}

// FloorResult is the plain client's time for the minimal writes.
type FloorResult struct {
	Seconds float64 `json:"seconds"`
	Writes  int     `json:"writes"`
	// CPUSeconds is the CPU each process used during the floor, by process name.
	CPUSeconds map[string]float64 `json:"cpuSeconds"`
}

// ScenarioResult is one phase of the main manager.
type ScenarioResult struct {
	Seconds       float64 `json:"seconds"`
	CreateSeconds float64 `json:"createSeconds,omitempty"` // the bench client's own creates
	// CPUSeconds is the CPU each process used until the last Ready, by process name.
	CPUSeconds map[string]float64 `json:"cpuSeconds,omitempty"`
	// EventLagSeconds is how long after the last Ready the manager's event
	// queue emptied; the counts below include that tail.
	EventLagSeconds float64 `json:"eventLagSeconds,omitempty"`
	PerSecond       float64 `json:"simsPerSecond,omitempty"`
	VsFloor         float64 `json:"vsFloor,omitempty"`
	// VsFloorSameWrites is Seconds over the floor of the same writes.
	VsFloorSameWrites float64 `json:"vsFloorSameWrites,omitempty"`
	// APICalls are the simulator's requests per SIM, by method. In the spec
	// change, a SIM's calls count from the moment its patch was sent.
	APICalls map[string]float64 `json:"apiCallsPerSIM"`
	// DriftCalls, in the spec change, are the calls on a SIM in the phase but
	// before its patch was sent: drift checks that fell due, not the change's cost.
	DriftCalls map[string]float64 `json:"driftCallsPerSIM,omitempty"`
	// Apiserver are the manager's apiserver requests per SIM, by "verb resource[/subresource]", from the audit log.
	Apiserver map[string]float64 `json:"apiserverPerSIM"`
	// Writes and Events per SIM (writes exclude events; events are counted apart).
	Writes float64 `json:"writesPerSIM"`
	Events float64 `json:"eventsPerSIM"`
	// ClientGo is client-go's rest_client_requests_total by method, cumulative at the end of the phase.
	ClientGo map[string]float64 `json:"clientGoRequests,omitempty"`
	// MeanCallsPerSecond and PeakCallsPerSecond show how evenly API calls spread over the phase.
	MeanCallsPerSecond float64 `json:"meanCallsPerSecond"`
	PeakCallsPerSecond int     `json:"peakCallsPerSecond"`
	// window is the phase until its last SIM was Ready; its events are
	// counted until eventsTo, when the manager's event queue had emptied.
	window   window
	eventsTo time.Time
	// changedAt is when each SIM's patch was sent, by API path (spec change only).
	changedAt map[string]time.Time
}

// MemoryResult is the manager's peak memory.
type MemoryResult struct {
	PeakRSSMiB  float64 `json:"peakRSSMiB"`
	PeakHeapMiB float64 `json:"peakHeapInuseMiB"`
}

// RateLimitedResult is the rate-limited scenario.
type RateLimitedResult struct {
	SIMs                int     `json:"sims"`
	Seconds             float64 `json:"seconds"`
	Calls               int     `json:"calls"`
	TooMany             int     `json:"tooManyRequests"`
	IdealSeconds        float64 `json:"idealSeconds"`
	VsIdeal             float64 `json:"vsIdeal"`
	LoweredSIMs         int     `json:"loweredSims"`
	LoweredSeconds      float64 `json:"loweredSeconds"`
	LoweredIdealSeconds float64 `json:"loweredIdealSeconds"`
	LoweredTooMany      int     `json:"loweredTooManyRequests"`
}

// finish fills the per-SIM counts from the simulator's log and the audit log
// (read after the apiserver stopped, so that it is flushed).
func (r *Results) finish(e *env) error {
	r.Machine = machine()
	if r.Sharded != nil {
		if err := r.Sharded.countWrites(e.auditLog); err != nil {
			return err
		}
	}
	if r.Create == nil {
		return nil // the main scenarios did not run (--sims 0)
	}
	scenarios := []*ScenarioResult{r.Create, r.Steady, r.SpecChange}
	windows := make([]window, 2*len(scenarios))
	for i, s := range scenarios {
		windows[2*i] = s.window
		windows[2*i+1] = s.window
		if s.eventsTo.After(s.window.to) {
			windows[2*i+1].to = s.eventsTo
		}
	}
	reqs := e.sim.Requests()
	audit, err := apiserverRequests(e.auditLog, windows...)
	if err != nil {
		return err
	}
	n := float64(r.SIMs)
	for i, s := range scenarios {
		calls, drift, perSecond, total := map[string]int{}, map[string]int{}, map[int64]int{}, 0
		for _, q := range reqs {
			if !s.window.has(q.Time) {
				continue
			}
			perSecond[q.Time.Unix()]++
			total++
			if t, ok := s.changedAt[q.Path]; ok && q.Time.Before(t) {
				drift[q.Method]++
			} else {
				calls[q.Method]++
			}
		}
		s.MeanCallsPerSecond = float64(total) / s.window.to.Sub(s.window.from).Seconds()
		for _, c := range perSecond {
			s.PeakCallsPerSecond = max(s.PeakCallsPerSecond, c)
		}
		s.APICalls = perSIM(calls, n)
		if len(drift) > 0 {
			s.DriftCalls = perSIM(drift, n)
		}
		s.Apiserver = map[string]float64{}
		writes, events := 0, 0
		for k, v := range audit[2*i] {
			if isEvent(k) {
				continue
			}
			s.Apiserver[k] = float64(v) / n
			if isWrite(k) {
				writes += v
			}
		}
		for k, v := range audit[2*i+1] {
			if isEvent(k) {
				s.Apiserver[k] = float64(v) / n
				if isWrite(k) {
					events += v
				}
			}
		}
		s.Writes, s.Events = float64(writes)/n, float64(events)/n
	}
	return nil
}

// machine names the OS, architecture, cores and CPU model.
func machine() string {
	return fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel())
}

func perSIM(counts map[string]int, n float64) map[string]float64 {
	out := make(map[string]float64, len(counts))
	for k, v := range counts {
		out[k] = float64(v) / n
	}
	return out
}

// isWrite and isEvent classify an audit count's "verb resource[/subresource]".
func isWrite(k string) bool {
	verb, _, _ := strings.Cut(k, " ")
	return verb == "create" || verb == "update" || verb == "patch" || verb == "delete"
}

func isEvent(k string) bool {
	_, res, _ := strings.Cut(k, " ")
	return res == "events"
}

// isLease is the leader election's heartbeat.
func isLease(k string) bool {
	_, res, _ := strings.Cut(k, " ")
	return res == "leases"
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}

// WriteJSON writes the results to path.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Print writes the results as tables.
func (r *Results) Print(w io.Writer) {
	fmt.Fprintf(w, "sim-operator benchmark: %d SIMs, sync period %s, kube QPS %g/burst %d, event QPS %g/burst %d, concurrency %d, finalizer admission policy %t\n%s\n\n",
		r.SIMs, r.SyncPeriod, r.KubeQPS, r.KubeBurst, r.EventQPS, r.EventBurst, r.Concurrency, r.AdmissionPolicy, r.Machine)
	if r.Create != nil {
		r.printMain(w)
	}
	r.printOthers(w)
}

// printMain writes the floor, create, steady and spec change tables.
func (r *Results) printMain(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tseconds\tSIMs/s\t× floor\tAPI calls/SIM\tapiserver writes/SIM\tevents/SIM\tevents done after Ready\t")
	fmt.Fprintf(tw, "floor (plain client)\t%.1f\t%.0f\t1.00\t-\t4.00\t-\t-\t\n", r.Floor.Seconds, float64(r.SIMs)/r.Floor.Seconds)
	if f := r.FloorSameWrites; f != nil {
		fmt.Fprintf(tw, "floor, finalizer set by the policy\t%.1f\t%.0f\t-\t-\t3.00\t-\t-\t\n", f.Seconds, float64(r.SIMs)/f.Seconds)
	}
	row := func(name string, s *ScenarioResult) {
		perSec, vs, lag := "-", "-", "-"
		if s.PerSecond > 0 {
			perSec = fmt.Sprintf("%.0f", s.PerSecond)
		}
		if s.VsFloor > 0 {
			vs = fmt.Sprintf("%.2f", s.VsFloor)
		}
		if s.VsFloorSameWrites > 0 {
			vs += fmt.Sprintf(" (%.2f of the same writes)", s.VsFloorSameWrites)
		}
		if s.EventLagSeconds > 0 {
			lag = fmt.Sprintf("%.0fs", s.EventLagSeconds)
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t\n", name, s.Seconds, perSec, vs, perVerb(s.APICalls), s.Writes, s.Events, lag)
	}
	row("create", r.Create)
	row("steady (one sync period)", r.Steady)
	row("spec change (data=false)", r.SpecChange)
	_ = tw.Flush()
	fmt.Fprintf(w, "\nCPU seconds by process (%d cores shared):\n", runtime.NumCPU())
	fmt.Fprintf(w, "  %-12s %s\n", "floor", perVerb(r.Floor.CPUSeconds))
	fmt.Fprintf(w, "  %-12s %s\n", "create", perVerb(r.Create.CPUSeconds))
	fmt.Fprintf(w, "  %-12s %s\n", "spec change", perVerb(r.SpecChange.CPUSeconds))
	fmt.Fprintf(w, "\napiserver requests per SIM (audit log, the manager's user):\n")
	for _, s := range []struct {
		name string
		s    *ScenarioResult
	}{{"create", r.Create}, {"steady", r.Steady}, {"spec change", r.SpecChange}} {
		fmt.Fprintf(w, "  %-12s %s\n", s.name, perVerb(s.s.Apiserver))
	}
	fmt.Fprintf(w, "  client-go rest_client_requests_total after create: %s\n", perVerb(r.Create.ClientGo))
	fmt.Fprintf(w, "\nspec change: API calls per SIM counted from each SIM's patch; before it, drift checks that fell due: %s\n",
		perVerb(r.SpecChange.DriftCalls))
	fmt.Fprintf(w, "\nsteady state spread: %.1f API calls/s on average, %d in the busiest second\n",
		r.Steady.MeanCallsPerSecond, r.Steady.PeakCallsPerSecond)
	fmt.Fprintf(w, "\nmanager memory: peak RSS %.0f MiB, peak heap in use %.0f MiB\n", r.Memory.PeakRSSMiB, r.Memory.PeakHeapMiB)
}

// printOthers writes the rate-limited, accounts and current edition runs.
func (r *Results) printOthers(w io.Writer) {
	if rl := r.RateLimited; rl != nil {
		fmt.Fprintf(w, "\nrate limited (simulator: 10 requests/s; operator: --api-rate 9.5 --api-burst 1):\n")
		fmt.Fprintf(w, "  %d SIMs: %.1fs, ideal (calls ÷ rate) %.1fs, %.2f× ideal, %d API calls, %d × 429\n",
			rl.SIMs, rl.Seconds, rl.IdealSeconds, rl.VsIdeal, rl.Calls, rl.TooMany)
		fmt.Fprintf(w, "  %d more, limit lowered to 5/s mid-run: %.1fs, ideal %.1fs, %d × 429 after lowering\n",
			rl.LoweredSIMs, rl.LoweredSeconds, rl.LoweredIdealSeconds, rl.LoweredTooMany)
	}
	if a := r.Accounts; a != nil {
		fmt.Fprintf(w, "\naccounts (%d SIMs in each of two accounts, each with its own budget of %g calls/s):\n", a.SIMsPerAccount, a.Rate)
		for _, run := range a.Saturated {
			fmt.Fprintf(w, "  account %s: %d API calls in %.1fs, ideal (calls ÷ rate) %.1fs, %.2f× ideal\n",
				run.Account, run.Calls, run.Seconds, run.IdealSeconds, run.VsIdeal)
		}
		fmt.Fprintf(w, "  meanwhile a spec change in a third, idle account reached its API in %.2fs\n", a.UnsaturatedChangeSeconds)
	}
	if c := r.Current; c != nil {
		fmt.Fprintf(w, "\ncurrent edition (%d imported SIMs on a Current account at %g calls/s, sync period %s):\n", c.SIMs, c.Rate, c.SyncPeriod)
		fmt.Fprintf(w, "  adopted and Ready in %.1fs with %d API calls in all (bound ceil(N/1000)+10 = %d)\n", c.AdoptSeconds, c.AdoptCalls, c.AdoptCallBound)
		fmt.Fprintf(w, "  one drift period: %d list calls, %d GETs of one SIM, %d SIM resources written\n", c.SteadyListCalls, c.SteadyGets, c.SteadyWrites)
		fmt.Fprintf(w, "  a spec change reached the API as one PATCH after %.2fs; a 50,000-SIM drift round takes %.0fs of budget\n",
			c.ChangeSeconds, c.DriftSeconds50k)
		fmt.Fprintf(w, "  %d SIMs drifted at the API: corrected after %.1fs with %d PATCHes and %d list calls\n",
			c.Drifted, c.DriftSeconds, c.DriftPatches, c.DriftLists)
		fmt.Fprintf(w, "  meanwhile (%.1f calls/s of %g) a spec change reached the API after %.2fs\n", c.SaturatedRate, c.Rate, c.SaturatedChangeSeconds)
	}
	if s := r.Sharded; s != nil {
		fmt.Fprintf(w, "\nsharded (%d SIMs in each of %d shards, one apiserver): all Ready in %.1fs\n", s.SIMsPerShard, len(s.Shards), s.Seconds)
		for _, run := range s.Shards {
			fmt.Fprintf(w, "  %s: %d POSTs, %.2f apiserver writes per SIM, peak RSS %.0f MiB\n", run.Shard, run.POSTs, run.WritesPerSIM, run.PeakRSSMiB)
		}
		fmt.Fprintf(w, "  across shards: %d API calls, %d writes; SIMs written by both %d, by neither %d; one manager at the main N: peak RSS %.0f MiB\n",
			s.CrossCalls, s.CrossWrites, s.WrittenByBoth, s.WrittenByNone, s.SingleRSSMiB)
	}
}

func perVerb(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if v := m[k]; v >= 0.0005 {
			parts = append(parts, fmt.Sprintf("%s %.3g", k, v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
