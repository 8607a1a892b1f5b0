// Command sandbox runs sim-operator on this machine with nothing else: a
// local kube-apiserver + etcd, the CRDs, the Onomondo API simulator over
// TLS, and the manager; then it applies config/samples. Run it with
// `make sandbox` (which finds or builds the envtest assets first).
//
//	--demo    apply the samples, print the SIMs and the API calls, exit 0
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/sandbox"
)

func main() {
	demo := flag.Bool("demo", false, "apply the samples, print the SIMs and the API calls made, then exit")
	state := flag.String("state-dir", "bin/sandbox", "where to write kubeconfig, simulator.json and the simulator CA")
	samples := flag.String("samples", "config/samples", "directory of manifests to apply")
	verbose := flag.Bool("v", false, "show the operator's logs here instead of in STATE-DIR/operator.log")
	flag.Parse()
	if err := setLogger(*verbose, *state); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
	if err := run(*demo, *state, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

func setLogger(verbose bool, state string) error {
	if verbose {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
		return nil
	}
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(state, "operator.log"))
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(f)))
	return nil
}

func run(demo bool, state, samples string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := app.DefaultOptions()
	o.MetricsAddr, o.ProbeAddr = "0", "0"
	o.SyncPeriod = time.Minute // short, so drift corrections show up while you watch
	// The demo's resources without an accountRef live in "default".
	o.DefaultAccountNamespaceSelector = "kubernetes.io/metadata.name in (default)"

	fmt.Println("sandbox: starting kube-apiserver, etcd, the simulator and the operator…")
	sb, err := sandbox.Start(ctx, sandbox.Options{RepoRoot: ".", StateDir: state, Operator: o})
	if err != nil {
		return err
	}
	defer sb.Stop()
	objs, err := sb.ApplySamples(ctx, samples)
	if err != nil {
		return err
	}
	fmt.Printf("sandbox: applied %d objects from %s\n", len(objs), samples)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := sb.WaitReady(wctx, objs); err != nil {
		return err
	}
	if demo {
		fmt.Println("\n$ kubectl get sims -A")
		if err := sb.PrintSIMs(ctx, os.Stdout); err != nil {
			return err
		}
		fmt.Println("\n$ kubectl get sms -A")
		if err := sb.PrintSMS(ctx, os.Stdout); err != nil {
			return err
		}
		fmt.Println("\n$ kubectl get connectors -A")
		if err := sb.PrintConnectors(ctx, os.Stdout); err != nil {
			return err
		}
		fmt.Println("\nOnomondo API calls made:")
		sb.PrintAPICalls(os.Stdout)
		if err := accountsDemo(ctx, sb); err != nil {
			return err
		}
		if err := currentDemo(ctx, sb); err != nil {
			return err
		}
		fmt.Println("\nsandbox ready")
		return nil
	}
	fmt.Println()
	fmt.Print(sb.Instructions())
	fmt.Println("sandbox ready")
	<-ctx.Done()
	fmt.Println("\nsandbox: stopping and cleaning up")
	return nil
}

// applyAndWait applies the samples of dir and waits, a minute at most,
// until each is settled.
func applyAndWait(ctx context.Context, sb *sandbox.Sandbox, dir string) error {
	objs, err := sb.ApplySamples(ctx, dir)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return sb.WaitReady(wctx, objs)
}

// currentDemo applies config/samples/current: an organisation on Onomondo's
// current API, with SIMs by SIM ID, a network list and a webhook.
func currentDemo(ctx context.Context, sb *sandbox.Sandbox) error {
	if err := applyAndWait(ctx, sb, "config/samples/current"); err != nil {
		return err
	}
	fmt.Println("\n$ kubectl apply -f config/samples/current/   # initech, on the current API: SIMs by SIM ID, a network list, a webhook")
	fmt.Println("$ kubectl get sims -n initech")
	if err := sb.PrintCurrentSIMs(ctx, os.Stdout, "initech"); err != nil {
		return err
	}
	fmt.Println("\nAPI calls initech received (its tags, one list of its SIMs, a PATCH of what differs for each, the network list adopted, the webhook made):")
	sb.PrintOrgCalls(os.Stdout, sandbox.CurrentOrgKey)
	return nil
}

// accountsDemo applies config/samples/accounts: two organisations in two
// namespaces, and a namespace refused the other's account.
func accountsDemo(ctx context.Context, sb *sandbox.Sandbox) error {
	if err := applyAndWait(ctx, sb, "config/samples/accounts"); err != nil {
		return err
	}
	fmt.Println("\n$ kubectl apply -f config/samples/accounts/   # two organisations, acme and globex")
	fmt.Println("$ kubectl get sims -A")
	if err := sb.PrintSIMs(ctx, os.Stdout); err != nil {
		return err
	}
	fmt.Println("\nAPI calls each organisation received (globex/borrowed made none: AccountNotAllowed):")
	sb.PrintOrgAPICalls(os.Stdout)
	return nil
}
