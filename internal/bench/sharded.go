package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/simulator"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

// nsSharded holds the sharded scenario.
const nsSharded = "sharded"

// ShardedResult is one cluster's fleet split between two shards (managers
// selecting their objects by the sharding label) on one apiserver. Each
// shard talks to an endpoint of its own with the same key (one
// organisation, so claims are shared), which tells their API calls apart;
// each authenticates as its own user, which tells their apiserver writes
// apart.
type ShardedResult struct {
	SIMsPerShard int `json:"simsPerShard"`
	// Seconds: all SIMs of both shards Ready.
	Seconds float64    `json:"seconds"`
	Shards  []ShardRun `json:"shards"`
	// CrossCalls are API calls a shard made about the other shard's SIMs,
	// CrossWrites its apiserver writes to them; WrittenByBoth and
	// WrittenByNone count SIMs written by both shards or by neither. All
	// four must be zero.
	CrossCalls    int `json:"crossCalls"`
	CrossWrites   int `json:"crossWrites"`
	WrittenByBoth int `json:"writtenByBoth"`
	WrittenByNone int `json:"writtenByNone"`
	// SingleRSSMiB is the single manager's peak at the main scenario's N,
	// for comparison (0 when it did not run).
	SingleRSSMiB float64 `json:"singleRSSMiB,omitempty"`
}

// ShardRun is one shard's share.
type ShardRun struct {
	Shard string `json:"shard"`
	// POSTs of its own SIMs (one each), and its apiserver writes per SIM.
	POSTs        int     `json:"posts"`
	WritesPerSIM float64 `json:"writesPerSIM"`
	PeakRSSMiB   float64 `json:"peakRSSMiB"`
}

// sharded runs two shards of SIMsPerShard SIMs each.
func (e *env) sharded(ctx context.Context, n int) (*ShardedResult, error) {
	if err := e.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsSharded}}); client.IgnoreAlreadyExists(err) != nil {
		return nil, err
	}
	shards := []string{"shard1", "shard2"}
	res := &ShardedResult{SIMsPerShard: n}
	orgs := make([]*testutil.SimServer, len(shards))
	managers := make([]*manager, len(shards))
	for i, shard := range shards {
		org, err := testutil.StartSimulator(simulator.Options{})
		if err != nil {
			return nil, err
		}
		defer org.Close()
		ca := filepath.Join(e.cfg.WorkDir, shard+"-ca.pem")
		if err := os.WriteFile(ca, org.CAPEM, 0o600); err != nil {
			return nil, err
		}
		kubecfg, err := e.userKubeconfig("sim-operator-" + shard)
		if err != nil {
			return nil, err
		}
		m, err := e.launch(kubecfg, nsSharded, "--api-url="+org.URL(), "--api-ca-file="+ca, "--api-rate=-1",
			"--watch-label-selector="+app.ShardLabel+" in ("+shard+")")
		if err != nil {
			return nil, err
		}
		defer m.stop()
		if err := m.waitFor(time.Minute, m.working); err != nil {
			return nil, err
		}
		orgs[i], managers[i] = org, m
	}

	e.cfg.Log("sharded: %d SIMs in each of %d shards, one apiserver", n, len(shards))
	start := time.Now()
	err := e.parallel(ctx, n*len(shards), func(ctx context.Context, i int) error {
		s := benchSIM(nsSharded, 9, i)
		s.Labels = map[string]string{app.ShardLabel: shards[i%len(shards)]}
		return e.admin.Create(ctx, s)
	})
	if err != nil {
		return nil, err
	}
	if err := e.waitReady(ctx, nsSharded, n*len(shards), 30*time.Minute, e.progress("sharded", n*len(shards))); err != nil {
		return nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	time.Sleep(2 * time.Second) // the last status writes reach the audit log
	rss := make([]float64, len(managers))
	for k, m := range managers {
		rss[k] = peakRSS(m.cmd.Process.Pid)
	}

	index := map[string]int{} // IMSI → the SIM's index; i % shards is its shard
	for i := range n * len(shards) {
		index[imsiOf(9, i)] = i
	}
	for k, org := range orgs {
		run := ShardRun{Shard: shards[k], PeakRSSMiB: rss[k]}
		for _, r := range org.Requests() {
			i, ok := index[strings.TrimPrefix(r.Path, "/sim/")]
			switch {
			case !ok:
			case i%len(shards) != k:
				res.CrossCalls++
			case r.Method == "POST":
				run.POSTs++
			}
		}
		res.Shards = append(res.Shards, run)
	}
	e.cfg.Log("sharded: all Ready in %.1fs; %d API calls across shards", res.Seconds, res.CrossCalls)
	return res, nil
}

// countWrites reads, from the audit log once the apiserver has flushed it,
// which shard wrote which SIM.
func (r *ShardedResult) countWrites(auditLog string) error {
	writes, err := writesByUser(auditLog, nsSharded)
	if err != nil {
		return err
	}
	shards := len(r.Shards)
	writers := map[string]map[int]bool{} // SIM name → the shards that wrote it
	for k := range r.Shards {
		total := 0
		for name, count := range writes["sim-operator-"+r.Shards[k].Shard] {
			if writers[name] == nil {
				writers[name] = map[int]bool{}
			}
			writers[name][k] = true
			total += count
		}
		r.Shards[k].WritesPerSIM = float64(total) / float64(r.SIMsPerShard)
	}
	for i := range r.SIMsPerShard * shards {
		name := benchSIM(nsSharded, 9, i).Name
		for k := range writers[name] {
			if k != i%shards {
				r.CrossWrites++
			}
		}
		switch len(writers[name]) {
		case 0:
			r.WrittenByNone++
		case 1:
		default:
			r.WrittenByBoth++
		}
	}
	return nil
}

// userKubeconfig adds an apiserver user and writes its kubeconfig.
func (e *env) userKubeconfig(name string) (string, error) {
	user, err := e.testEnv.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(e.cfg.WorkDir, name+".kubeconfig")
	return path, os.WriteFile(path, kc, 0o600)
}

// writesByUser counts, from the audit log, each user's writes (create,
// update, patch, delete) to each SIM resource of namespace, by name.
func writesByUser(path, namespace string) (map[string]map[string]int, error) {
	out := map[string]map[string]int{}
	err := scanAudit(path, func(ev *auditEvent) {
		if ev.ObjectRef.Resource != "sims" || ev.ObjectRef.Namespace != namespace {
			return
		}
		switch ev.Verb {
		case "create", "update", "patch", "delete":
		default:
			return
		}
		if out[ev.User.Username] == nil {
			out[ev.User.Username] = map[string]int{}
		}
		out[ev.User.Username][ev.ObjectRef.Name]++
	})
	return out, err
}
