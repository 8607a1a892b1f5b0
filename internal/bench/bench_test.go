package bench_test

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sim-operator/sim-operator/internal/bench"
)

// The benchmark still works, at a tiny N. Nothing here asserts a time: only
// the counts that are the operator's contract (one POST per new SIM, the
// claim and one status write, the finalizer set by the admission policy,
// nothing in the steady state).
func TestBenchmarkRunsAtTinyN(t *testing.T) {
	dir, bin := buildManager(t)
	res, err := bench.Run(t.Context(), bench.Config{
		RepoRoot: "../..", ManagerBin: bin, WorkDir: dir, AdmissionPolicy: true,
		SIMs: 20, RateLimitedSIMs: 8, AccountSIMs: 10, CurrentSIMs: 30, ShardSIMs: 10, SyncPeriod: 6 * time.Second, // first drift checks come after 3 s: none in the create phase
		KubeQPS: 200, KubeBurst: 400, Concurrency: 4,
		Log: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Create.APICalls["POST"]; got != 1 || len(res.Create.APICalls) != 1 {
		t.Errorf("create: API calls per SIM %v, want exactly one POST", res.Create.APICalls)
	}
	if res.Create.Writes != 2 {
		t.Errorf("create: %.2f apiserver writes per SIM (%v), want the claim and one status write", res.Create.Writes, res.Create.Apiserver)
	}
	if res.Create.Events != 1 || res.SpecChange.Events != 1 {
		t.Errorf("events per SIM: create %.2f, spec change %.2f; want one each (Created, Updated), none lost to the event budget",
			res.Create.Events, res.SpecChange.Events)
	}
	// In one period each SIM is read at most once; right after creation about
	// half are (the first wait is drawn from 0.5-1.5 periods).
	if gets := res.Steady.APICalls["GET"]; res.Steady.Writes != 0 || gets <= 0 || gets > 1 || len(res.Steady.APICalls) != 1 {
		t.Errorf("steady: writes %.2f, API calls %v; want no writes and at most one GET per SIM", res.Steady.Writes, res.Steady.APICalls)
	}
	if res.SpecChange.APICalls["PUT"] != 1 || res.SpecChange.APICalls["POST"] != 0 || res.SpecChange.Writes != 1 {
		t.Errorf("spec change: API calls %v, writes %.2f; want one PUT and one status write per SIM", res.SpecChange.APICalls, res.SpecChange.Writes)
	}
	if c := res.Current; c == nil || c.AdoptCalls > c.AdoptCallBound || c.SteadyGets != 0 || c.SteadyWrites != 0 ||
		c.SteadyListCalls < 1 || c.SteadyListCalls > 2 || c.ChangeSeconds < 0 {
		t.Errorf("current edition: %+v; want adoption within ceil(N/1000)+10 calls, one or two lists and no GET or write in a period, the change's PATCH", c)
	}
	if c := res.Current; c != nil && (c.Drifted == 0 || c.DriftSeconds < 0 || c.DriftPatches != c.Drifted || c.SaturatedChangeSeconds < 0) {
		t.Errorf("current edition: %d SIMs drifted, corrected after %.1fs with %d PATCHes, a change meanwhile after %.2fs; want each corrected by one PATCH, and the change made",
			c.Drifted, c.DriftSeconds, c.DriftPatches, c.SaturatedChangeSeconds)
	}
	if s := res.Sharded; s == nil || len(s.Shards) != 2 || s.CrossCalls != 0 || s.CrossWrites != 0 || s.WrittenByBoth != 0 || s.WrittenByNone != 0 {
		t.Errorf("sharded: %+v; want every SIM written by its own shard only", s)
	} else {
		for _, run := range s.Shards {
			if run.POSTs != s.SIMsPerShard || run.WritesPerSIM != 1 {
				t.Errorf("shard %s: %d POSTs, %.2f writes per SIM; want one POST and one write (its status) per SIM of its own", run.Shard, run.POSTs, run.WritesPerSIM)
			}
		}
	}
	if res.Memory.PeakRSSMiB <= 0 || res.RateLimited == nil || res.Accounts == nil {
		t.Errorf("missing measurements: %+v %+v %+v", res.Memory, res.RateLimited, res.Accounts)
	}
	if a := res.Accounts; a != nil {
		for _, run := range a.Saturated {
			if run.Calls != 10 {
				t.Errorf("account %s: %d API calls, want one POST per SIM", run.Account, run.Calls)
			}
		}
		if math.IsNaN(a.UnsaturatedChangeSeconds) {
			t.Error("the idle account's spec change never reached its API")
		}
	}
	for _, p := range []string{"kube-apiserver", "etcd", "manager", "bench"} {
		if res.Create.CPUSeconds[p] <= 0 {
			t.Errorf("create: no CPU time for %s: %v", p, res.Create.CPUSeconds)
		}
	}
	if err := res.WriteJSON(filepath.Join(dir, "results.json")); err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	res.Print(&table)
	t.Log("\n" + table.String())
}

func buildManager(t *testing.T) (dir, bin string) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS not set; `make test` sets it")
	}
	dir = t.TempDir()
	bin = filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = "../.." // the operator's module, not the bench's
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}
	return dir, bin
}

// The cost curve works at tiny sizes, and holds what no size may break: a
// restart writes nothing and every change made during it reaches the API
// within the budget; a failover writes no SIM twice and skips none. It runs
// without the admission policy: the operator patches the finalizer on.
func TestCostCurveRunsAtTinyN(t *testing.T) {
	dir, bin := buildManager(t)
	res, err := bench.Curve(t.Context(), bench.Config{
		RepoRoot: "../..", ManagerBin: bin, WorkDir: dir,
		SyncPeriod: 6 * time.Second, RestartWindow: 12 * time.Second,
		KubeQPS: 200, KubeBurst: 400, Concurrency: 4,
		Log: t.Logf,
	}, []int{24})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Points {
		if p.APICalls != 1 || p.Writes != 3 {
			t.Errorf("%d SIMs: %.2f API calls and %.2f writes per SIM, want one POST, the claim, the finalizer and one status write", p.SIMs, p.APICalls, p.Writes)
		}
		r := p.Restart
		if r.WritesFirstMinute != r.Changes {
			t.Errorf("%d SIMs: the restart wrote %d times for %d spec changes, want one status write per change and nothing else", p.SIMs, r.WritesFirstMinute, r.Changes)
		}
		if r.FirstChangeSeconds < 0 || slices.ContainsFunc(r.ChangeSeconds, func(s float64) bool { return s < 0 }) {
			t.Errorf("%d SIMs: a change made during the restart never reached the API: first %v, later %v", p.SIMs, r.FirstChangeSeconds, r.ChangeSeconds)
		}
		if f := p.Failover; f.Twice != 0 || f.Skipped != 0 || f.FirstCallSeconds < 0 {
			t.Errorf("%d SIMs: failover: %d SIMs PUT twice, %d never, first call of the new leader %v", p.SIMs, f.Twice, f.Skipped, f.FirstCallSeconds)
		}
		if p.Failover.HandOverSeconds < 0 {
			t.Errorf("%d SIMs: after a graceful stop of the leader, no replica called the API", p.SIMs)
		}
	}
	if err := res.Plot(filepath.Join(dir, "curve.svg")); err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	res.Print(&table)
	t.Log("\n" + table.String())
}
