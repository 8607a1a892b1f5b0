// Package bench measures the operator at fleet scale on one machine: a real
// kube-apiserver (envtest, with an audit log), the simulator over TLS, and
// the manager binary as a child process, so that its RSS is its own. It is
// what `make bench` runs; `make test` runs it at a tiny N to prove it works.
//
// Scenarios, in order:
//   - floor: a plain client writes what each SIM minimally needs (create,
//     its Claim, finalizer patch, status patch) with the operator's QPS and concurrency,
//     on a control plane of its own started the same way, so that the floor
//     and the operator both meet a fresh apiserver;
//   - create: N SIMs until all are Ready; API calls and apiserver requests per
//     SIM; then until the manager's event queue is empty (events trail the
//     status under --event-qps), counting the events with the phase;
//   - steady: one full sync period with nothing changed;
//   - spec change: flip data on all N;
//   - rate limited: a second manager at the hosted API's budget against the
//     simulator's hosted-like limit, then the limit lowered mid-run.
//   - accounts, current edition: see accounts.go and current.go;
//   - sharded: two managers splitting one cluster's fleet by the sharding
//     label, each SIM written by its own shard only (sharded.go).
//
// Curve (curve.go, `make bench-curve`) measures instead, at each of several
// fleet sizes: the floor and the create phase, a restart at the hosted
// budget, and a leader failover.
package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/utils/ptr"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/admission"
	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/simulator"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

// Config sizes a run.
type Config struct {
	// RepoRoot holds config/crd/bases.
	RepoRoot string
	// ManagerBin is the built manager (main.go).
	ManagerBin string
	// WorkDir receives the audit log, kubeconfig, profiles and results.
	WorkDir string
	// SIMs is N, the fleet size of the main scenarios.
	SIMs int
	// RateLimitedSIMs is the fleet size of the rate-limited scenario (0 skips it).
	RateLimitedSIMs int
	// AccountSIMs is the SIMs in each saturated account of the accounts
	// scenario (0 skips it).
	AccountSIMs int
	// CurrentSIMs is the fleet of the current edition's scenario (0 skips it).
	CurrentSIMs int
	// ShardSIMs is the SIMs of each of the sharded scenario's two shards (0 skips it).
	ShardSIMs int
	// SyncPeriod of the main manager; the steady state is measured over one.
	SyncPeriod time.Duration
	// KubeQPS, KubeBurst and Concurrency apply to the operator and to the floor's plain client alike.
	KubeQPS     float64
	KubeBurst   int
	Concurrency int
	// EventQPS and EventBurst are the manager's event budget (0: its defaults).
	EventQPS   float64
	EventBurst int
	// RestartWindow is how long the curve's restart is watched (0: a minute),
	// with a spec change at its start and then every sixth of it.
	RestartWindow time.Duration
	// Profile takes CPU profiles of the manager and kube-apiserver while
	// creating, and in the curve's restart from the manager's start.
	Profile bool
	// AdmissionPolicy installs config/admission's finalizer policy on the
	// operator's control plane, as install.yaml and the chart do; without it
	// the control plane has the CRDs alone, as after `make install` of old,
	// and the operator patches its finalizer on. The floor's control plane
	// never has it: the floor is the same four writes either way.
	AdmissionPolicy bool
	// CurveSkip names curve phases not to run ("floor", "failover"): the
	// create and the restart always run.
	CurveSkip []string
	// Log receives progress lines.
	Log func(format string, args ...any)
}

// env is one run's shared parts.
type env struct {
	cfg      Config
	testEnv  *envtest.Environment
	admin    client.Client
	restCfg  *rest.Config
	sim      *testutil.SimServer
	caFile   string
	kubecfg  string
	auditLog string
	watch    *readiness
	managers int // started so far, to name their logs
	stopOnce sync.Once
}

// withDefaults fills what a Config may leave unset.
func (c Config) withDefaults() Config {
	if c.Log == nil {
		c.Log = func(string, ...any) {}
	}
	if c.EventQPS == 0 {
		def := app.DefaultOptions()
		c.EventQPS, c.EventBurst = def.EventQPS, def.EventBurst
	}
	return c
}

// Run runs every scenario and returns the results.
func Run(ctx context.Context, c Config) (*Results, error) {
	c = c.withDefaults()
	res := &Results{SIMs: c.SIMs, SyncPeriod: c.SyncPeriod.String(), KubeQPS: c.KubeQPS, KubeBurst: c.KubeBurst,
		EventQPS: c.EventQPS, EventBurst: c.EventBurst, Concurrency: c.Concurrency, AdmissionPolicy: c.AdmissionPolicy, Started: time.Now().UTC()}
	if c.SIMs > 0 {
		c.Log("floor: %d SIMs × (create + claim + finalizer patch + status patch) from a plain client", c.SIMs)
		var err error
		if res.Floor, res.FloorSameWrites, err = runFloors(ctx, c); err != nil {
			return nil, err
		}
	}

	e := &env{cfg: c}
	if err := e.start(ctx); err != nil {
		return nil, err
	}
	defer e.stop()

	if c.SIMs > 0 { // --sims 0 runs only the other scenarios
		if err := e.mainScenarios(ctx, res); err != nil {
			return nil, err
		}
	}
	if c.RateLimitedSIMs > 0 {
		rl, err := e.rateLimited(ctx)
		if err != nil {
			return nil, err
		}
		res.RateLimited = rl
	}
	if c.AccountSIMs > 0 {
		acc, err := e.accounts(ctx)
		if err != nil {
			return nil, err
		}
		res.Accounts = acc
	}
	if c.CurrentSIMs > 0 {
		cur, err := e.current(ctx)
		if err != nil {
			return nil, err
		}
		res.Current = cur
	}
	if c.ShardSIMs > 0 {
		sh, err := e.sharded(ctx, c.ShardSIMs)
		if err != nil {
			return nil, err
		}
		if res.Memory != nil {
			sh.SingleRSSMiB = res.Memory.PeakRSSMiB
		}
		res.Sharded = sh
	}
	res.Finished = time.Now().UTC()
	e.stop() // flushes the audit log
	return res, res.finish(e)
}

// runFloors measures the floor and, with the admission policy, the floor of
// the same writes the operator then makes (nil without it).
func runFloors(ctx context.Context, c Config) (floor, sameWrites *FloorResult, err error) {
	if floor, err = runFloor(ctx, c, false); err != nil {
		return nil, nil, err
	}
	c.Log("floor: %d SIMs in %.1fs", c.SIMs, floor.Seconds)
	if c.AdmissionPolicy {
		if sameWrites, err = runFloor(ctx, c, true); err != nil {
			return nil, nil, err
		}
		c.Log("floor of the same writes (the finalizer set by the policy): %d SIMs in %.1fs", c.SIMs, sameWrites.Seconds)
	}
	return floor, sameWrites, nil
}

// runFloor measures the floor on a control plane of its own, started as the
// operator's will be and stopped after. On one control plane the operator
// would meet what the floor left behind: a second floor run there, even with
// the first one's SIMs deleted, took 8% longer than the first. With policy,
// that control plane has the finalizer policy and the floor writes what the
// operator then writes: no finalizer patch.
func runFloor(ctx context.Context, c Config, policy bool) (*FloorResult, error) {
	fe := &env{cfg: c}
	defer fe.stop()
	if err := fe.startControlPlane(ctx, "audit-floor.log", policy); err != nil {
		return nil, err
	}
	return fe.floor(ctx, policy)
}

// start starts the control plane, the simulator and the manager's user.
func (e *env) start(ctx context.Context) error {
	if err := e.startControlPlane(ctx, "audit.log", e.cfg.AdmissionPolicy); err != nil {
		return err
	}
	// The manager authenticates as its own user, so the audit log tells its requests apart.
	user, err := e.testEnv.AddUser(envtest.User{Name: operatorUser, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	e.kubecfg = filepath.Join(e.cfg.WorkDir, "manager.kubeconfig")
	if err := os.WriteFile(e.kubecfg, kc, 0o600); err != nil {
		return err
	}
	if e.sim, err = testutil.StartSimulator(simulator.Options{}); err != nil {
		return err
	}
	e.caFile = filepath.Join(e.cfg.WorkDir, "simulator-ca.pem")
	return os.WriteFile(e.caFile, e.sim.CAPEM, 0o644)
}

// startControlPlane starts envtest with an audit log, the admin client, the
// namespaces, the finalizer policy when asked, and the readiness informer.
func (e *env) startControlPlane(ctx context.Context, auditLog string, finalizerPolicy bool) error {
	if err := os.MkdirAll(e.cfg.WorkDir, 0o755); err != nil {
		return err
	}
	policy := filepath.Join(e.cfg.WorkDir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return err
	}
	e.auditLog = filepath.Join(e.cfg.WorkDir, auditLog)
	_ = os.Remove(e.auditLog)
	e.testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(e.cfg.RepoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	e.testEnv.ControlPlane.GetAPIServer().Configure().
		Set("audit-policy-file", policy).
		Set("audit-log-path", e.auditLog).
		Set("audit-log-format", "json").
		Set("audit-log-mode", "batch").
		Set("audit-log-maxsize", "0"). // never rotated: the counts read this one file (10k SIMs: 70 MB, rotation came at 100)
		Set("max-requests-inflight", "1000").
		Set("max-mutating-requests-inflight", "500")
	var err error
	if e.restCfg, err = e.testEnv.Start(); err != nil {
		return fmt.Errorf("starting envtest (is KUBEBUILDER_ASSETS set?): %w", err)
	}
	e.restCfg.QPS, e.restCfg.Burst = float32(e.cfg.KubeQPS), e.cfg.KubeBurst
	if e.admin, err = client.New(e.restCfg, client.Options{Scheme: app.Scheme}); err != nil {
		return err
	}
	for _, ns := range []string{nsMain, nsFloor, nsRateLimited, nsAccounts} {
		if err := e.admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	if finalizerPolicy {
		if err := admission.Install(ctx, e.admin, filepath.Join(e.cfg.RepoRoot, admission.Dir)); err != nil {
			return err
		}
	}
	e.watch, err = watchReadiness(ctx, e.restCfg)
	return err
}

func (e *env) stop() { e.stopOnce.Do(e.shutdown) }

func (e *env) shutdown() {
	if e.watch != nil {
		e.watch.stop()
	}
	if e.sim != nil {
		e.sim.Server.Close() // the request log stays readable
	}
	if e.testEnv != nil {
		_ = e.testEnv.Stop()
	}
}

const (
	nsMain        = "bench"
	nsFloor       = "floor"
	nsRateLimited = "ratelimited"
	operatorUser  = "sim-operator"
)

// auditPolicy records every request at Metadata level, once, at completion.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
`

// manager is the operator running as a child process.
type manager struct {
	cmd                               *exec.Cmd
	metricsAddr, probeAddr, pprofAddr string
	log                               string    // its output
	started                           time.Time // when its process was started
	done                              chan error
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// startManager starts a manager on namespace and returns once its SIM
// controller's workers run (its caches have synced): timing starts there.
func (e *env) startManager(namespace string, extra ...string) (*manager, error) {
	m, err := e.launchManager(namespace, extra...)
	if err != nil {
		return nil, err
	}
	if err := m.waitFor(time.Minute, m.working); err != nil {
		m.stop()
		return nil, err
	}
	return m, nil
}

// launchManager starts a manager process and returns at once.
func (e *env) launchManager(namespace string, extra ...string) (*manager, error) {
	return e.launch(e.kubecfg, namespace, extra...)
}

// launch starts a manager process as the kubeconfig's user (later flags in
// extra win over the defaults) and returns at once.
func (e *env) launch(kubecfg, namespace string, extra ...string) (*manager, error) {
	var addrs [3]string
	for i := range addrs {
		var err error
		if addrs[i], err = freeAddr(); err != nil {
			return nil, err
		}
	}
	args := append([]string{
		"--api-url=" + e.sim.URL(), "--api-ca-file=" + e.caFile, "--default-account-namespace-selector=" + app.AllNamespaces,
		"--watch-namespaces=" + namespace,
		"--sync-period=" + e.cfg.SyncPeriod.String(),
		fmt.Sprintf("--kube-api-qps=%g", e.cfg.KubeQPS), fmt.Sprintf("--kube-api-burst=%d", e.cfg.KubeBurst),
		fmt.Sprintf("--max-concurrent-reconciles=%d", e.cfg.Concurrency),
		fmt.Sprintf("--event-qps=%g", e.cfg.EventQPS), fmt.Sprintf("--event-burst=%d", e.cfg.EventBurst),
		"--metrics-bind-address=" + addrs[0], "--metrics-secure=false",
		"--health-probe-bind-address=" + addrs[1], "--pprof-bind-address=" + addrs[2],
		"--zap-log-level=error",
	}, extra...)
	cmd := exec.Command(e.cfg.ManagerBin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubecfg, app.APIKeyEnv+"="+testutil.APIKey)
	e.managers++
	logFile, err := os.Create(filepath.Join(e.cfg.WorkDir, fmt.Sprintf("manager-%s-%d.log", namespace, e.managers)))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	m := &manager{cmd: cmd, metricsAddr: addrs[0], probeAddr: addrs[1], pprofAddr: addrs[2], log: logFile.Name(),
		started: started, done: make(chan error, 1)}
	go func() { m.done <- cmd.Wait(); _ = logFile.Close() }()
	return m, nil
}

// serving reports whether the manager's pprof server answers.
func (m *manager) serving() bool {
	resp, err := http.Get("http://" + m.pprofAddr + "/debug/pprof/")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return true
}

// working reports whether the SIM controller's workers run: the manager
// leads (or elects no leader) and its caches have synced.
func (m *manager) working() bool {
	for k := range scrapeMetrics(m.metricsAddr) {
		if strings.HasPrefix(k, `controller_runtime_active_workers{controller="sim"}`) {
			return true
		}
	}
	return false
}

// warm reports whether the manager's caches have synced (its /readyz), as a
// standby's are before it leads.
func (m *manager) warm() bool {
	resp, err := http.Get("http://" + m.probeAddr + "/readyz")
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitFor polls cond until it holds, the manager exits or timeout passes.
func (m *manager) waitFor(timeout time.Duration, cond func() bool) error {
	for start := time.Now(); !cond(); time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-m.done:
			m.done <- err
			return fmt.Errorf("the manager exited: %v; the end of %s:\n%s", err, m.log, tail(m.log, 2000))
		default:
		}
		if time.Since(start) > timeout {
			return fmt.Errorf("the manager was not ready within %s (see %s)", timeout, m.log)
		}
	}
	return nil
}

// tail is the end of a file, up to n bytes.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	return string(b[max(len(b)-n, 0):])
}

// kill stops the manager at once, as a node failure or OOM kill would: no
// graceful shutdown, no Lease released.
func (m *manager) kill() {
	_ = m.cmd.Process.Kill()
	err := <-m.done
	m.done <- err
}

// stop stops the manager gracefully (killing it after 15 s); it may be
// called again, or after kill.
func (m *manager) stop() {
	_ = m.cmd.Process.Signal(os.Interrupt)
	var err error
	select {
	case err = <-m.done:
	case <-time.After(15 * time.Second):
		_ = m.cmd.Process.Kill()
		err = <-m.done
	}
	m.done <- err
}

// readiness follows SIMs through an informer: how many are Ready for their
// current generation (and, when a data value is expected, show it).
type readiness struct {
	mu      sync.Mutex
	ready   map[string]bool
	wantDat map[string]*bool
	count   atomic.Int64
	cancel  context.CancelFunc
}

func watchReadiness(ctx context.Context, cfg *rest.Config) (*readiness, error) {
	c, err := cache.New(cfg, cache.Options{Scheme: app.Scheme, DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		return nil, err
	}
	inf, err := c.GetInformer(ctx, &v1alpha1.SIM{})
	if err != nil {
		return nil, err
	}
	r := &readiness{ready: map[string]bool{}, wantDat: map[string]*bool{}}
	update := func(obj any) {
		s, ok := obj.(*v1alpha1.SIM)
		if !ok {
			return
		}
		cond := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionReady)
		ok = cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == s.Generation &&
			s.Status.AtProvider != nil && (s.Spec.Data == nil || ptr.Equal(s.Status.AtProvider.Data, s.Spec.Data))
		r.set(s.Namespace+"/"+s.Name, ok)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: update, UpdateFunc: func(_, n any) { update(n) },
		DeleteFunc: func(obj any) {
			if s, ok := obj.(*v1alpha1.SIM); ok {
				r.set(s.Namespace+"/"+s.Name, false)
			}
		},
	}); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	go func() { _ = c.Start(cctx) }()
	if !c.WaitForCacheSync(cctx) {
		cancel()
		return nil, fmt.Errorf("readiness cache did not sync")
	}
	return r, nil
}

func (r *readiness) set(key string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ready[key] != ok {
		r.ready[key] = ok
		if ok {
			r.count.Add(1)
		} else {
			r.count.Add(-1)
		}
	}
}

// readyIn counts Ready SIMs in a namespace.
func (r *readiness) readyIn(ns string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, ok := range r.ready {
		if ok && len(k) > len(ns) && k[:len(ns)+1] == ns+"/" {
			n++
		}
	}
	return n
}

func (r *readiness) stop() { r.cancel() }

// waitReady waits until n SIMs of ns are Ready, calling tick every second.
func (e *env) waitReady(ctx context.Context, ns string, n int, timeout time.Duration, tick func(ready int)) error {
	deadline := time.Now().Add(timeout)
	for {
		ready := e.watch.readyIn(ns)
		if ready >= n {
			return nil
		}
		if tick != nil {
			tick(ready)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d SIMs in %s Ready after %s", ready, n, ns, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
