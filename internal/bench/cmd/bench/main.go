// Command bench measures sim-operator at fleet scale (see internal/bench):
// `make bench` builds the manager and runs this. Sizes come from flags or
// BENCH_SIMS / BENCH_RATE_LIMITED_SIMS.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/bench"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func main() {
	c := bench.Config{RepoRoot: ".", Log: func(f string, a ...any) { fmt.Printf("bench: "+f+"\n", a...) }}
	flag.IntVar(&c.SIMs, "sims", envInt("BENCH_SIMS", 1000), "fleet size N")
	flag.IntVar(&c.RateLimitedSIMs, "rate-limited-sims", envInt("BENCH_RATE_LIMITED_SIMS", 1000), "fleet size of the rate-limited scenario (0 skips it)")
	flag.IntVar(&c.CurrentSIMs, "current-sims", envInt("BENCH_CURRENT_SIMS", 1000), "SIMs of the current edition's scenario (0 skips it)")
	flag.IntVar(&c.ShardSIMs, "shard-sims", envInt("BENCH_SHARD_SIMS", 1000), "SIMs in each of the two shards of the sharded scenario (0 skips it)")
	flag.IntVar(&c.AccountSIMs, "account-sims", envInt("BENCH_ACCOUNT_SIMS", 400), "SIMs in each of the two saturated accounts of the accounts scenario (0 skips it)")
	flag.DurationVar(&c.SyncPeriod, "sync-period", 3*time.Minute,
		"the manager's sync period: longer than the create and spec-change phases, so they see no drift checks; the steady state is measured over one")
	// High enough that the floor is what the apiserver can do, not what the budget allows.
	flag.Float64Var(&c.KubeQPS, "kube-api-qps", 5000, "apiserver QPS of the operator and of the floor's client")
	flag.IntVar(&c.KubeBurst, "kube-api-burst", 10000, "apiserver burst of the operator and of the floor's client")
	def := app.DefaultOptions()
	flag.Float64Var(&c.EventQPS, "event-qps", def.EventQPS, "the manager's event budget (--event-qps)")
	flag.IntVar(&c.EventBurst, "event-burst", def.EventBurst, "the manager's event burst (--event-burst)")
	flag.IntVar(&c.Concurrency, "concurrency", 16, "max concurrent reconciles, and the floor's workers")
	flag.StringVar(&c.ManagerBin, "manager", "bin/manager", "the manager binary")
	flag.StringVar(&c.WorkDir, "out", "bin/bench", "directory for results.json, profiles, logs")
	flag.BoolVar(&c.Profile, "profile", true, "take CPU profiles of the manager and of kube-apiserver while creating (and of kube-apiserver during the floor)")
	var curve sizes
	flag.BoolVar(&c.AdmissionPolicy, "admission-policy", true, "install config/admission's finalizer policy on the operator's control plane, as install.yaml and the chart do (false: the CRDs alone)")
	flag.Func("curve-skip", "comma-separated curve phases not to run: floor, failover (create and restart always run)", func(v string) error {
		c.CurveSkip = strings.Split(v, ",")
		return nil
	})
	flag.Var(&curve, "curve", "comma-separated fleet sizes: measure the cost curve (create, restart, failover at each) instead of the scenarios")
	replot := flag.String("plot", "", "only draw the curve.svg of this curve.json, next to it")
	flag.Parse()
	if *replot != "" {
		if err := plot(*replot); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(curve) > 0 {
		runCurve(ctx, c, curve)
		return
	}
	res, err := bench.Run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Println()
	res.Print(os.Stdout)
	out := filepath.Join(c.WorkDir, "results.json")
	if err := res.WriteJSON(out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Println("\nresults:", out)
}

// sizes is a comma-separated list of fleet sizes.
type sizes []int

func (s *sizes) String() string { return fmt.Sprint([]int(*s)) }

func (s *sizes) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a fleet size", f)
		}
		*s = append(*s, n)
	}
	return nil
}

// runCurve measures the cost curve and writes curve.json, with the points
// measured before a failure if one stops it.
func runCurve(ctx context.Context, c bench.Config, n []int) {
	res, err := bench.Curve(ctx, c, n)
	if res != nil {
		out := filepath.Join(c.WorkDir, "curve.json")
		if werr := res.WriteJSON(out); werr != nil {
			fmt.Fprintln(os.Stderr, "bench:", werr)
		}
		if len(res.Points) > 0 { // a curve stopped before its first point has nothing to draw
			if perr := plot(out); perr != nil {
				fmt.Fprintln(os.Stderr, "bench:", perr)
			}
		}
		fmt.Println()
		res.Print(os.Stdout)
		fmt.Println("\nresults:", out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// plot draws curve.svg next to a curve.json.
func plot(jsonPath string) error {
	res, err := bench.ReadCurve(jsonPath)
	if err != nil {
		return err
	}
	svg := strings.TrimSuffix(jsonPath, filepath.Ext(jsonPath)) + ".svg"
	if err := res.Plot(svg); err != nil {
		return err
	}
	fmt.Println("plot:", svg)
	return nil
}
