// Package plugin is kubectl-sim: the sim-operator's kubectl plugin. It speaks
// the cluster's language (kubeconfig flags, -n, -A, -l, -o) through
// k8s.io/cli-runtime, and the Onomondo API through the operator's own client.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/accounts"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// ExitError is an exit code without a message (diff's 1: there are changes).
type ExitError int

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
}

// options are the flags every command shares.
type options struct {
	streams genericiooptions.IOStreams
	kube    *genericclioptions.ConfigFlags
	// The Onomondo API, for import and diff.
	apiURL, apiCAFile, apiKeySecret, account string
	rate                                     float64
}

// NewRootCommand is `kubectl sim`.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &options{streams: streams, kube: genericclioptions.NewConfigFlags(true)}
	root := &cobra.Command{
		Use:           "kubectl-sim",
		Short:         "Import, inspect and steer sim-operator's SIMs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	o.kube.AddFlags(root.PersistentFlags())
	root.Long = `kubectl sim imports a live fleet, shows it at a glance, previews what Git
will change in the Onomondo API, and retries, pauses or resumes resources.

Exit status: 0 on success; 1 when diff found changes or import rejected
rows; 2 on an error.`
	root.Example = `  kubectl sim status -A
  kubectl sim diff -f fleet/ -R
  kubectl sim import --csv export.csv --out fleet/ -n trackers --api-key-secret ops/onomondo-api-key`
	root.AddCommand(newImportCommand(o), newStatusCommand(o), newDiffCommand(o), newVersionCommand(o),
		newAnnotateCommand(o, "retry", "Ask for one immediate read and decision (lifts a terminal error once)"),
		newAnnotateCommand(o, "pause", "Stop every API call and write for the resources"),
		newAnnotateCommand(o, "resume", "Resume paused resources"))
	return root
}

// addAPIFlags adds the flags that reach the Onomondo API.
func (o *options) addAPIFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.apiURL, "api-url", onomondo.DefaultBaseURL, "Base URL of the Onomondo API.")
	cmd.Flags().StringVar(&o.apiCAFile, "api-ca-file", "", "PEM bundle to trust for the API, in addition to the system roots.")
	cmd.Flags().StringVar(&o.apiKeySecret, "api-key-secret", "",
		"NAMESPACE/NAME of a Secret whose key apiKey holds the API key (else $ONOMONDO_API_KEY). The key is never printed.")
	cmd.Flags().StringVar(&o.account, "account", "",
		"Use an account's API URL, CA and key: NAME (an Account in the namespace) or ClusterAccount/NAME.")
	cmd.Flags().Float64Var(&o.rate, "rate", onomondo.DefaultRate, "API calls per second (the hosted API allows 10).")
}

// kubeClient is a client of the cluster the kubeconfig flags name.
func (o *options) kubeClient() (client.Client, error) {
	cfg, err := o.kube.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100 // as kubectl: patching a few hundred SIMs takes seconds, not minutes
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// namespace is -n, else the kubeconfig context's, else "default".
func (o *options) namespace() string {
	if o.kube.Namespace != nil && *o.kube.Namespace != "" {
		return *o.kube.Namespace
	}
	if ns, _, err := o.kube.ToRawKubeConfigLoader().Namespace(); err == nil && ns != "" {
		return ns
	}
	return "default"
}

// apiClient is the operator's own API client for the flags: --account
// (in the -n namespace), else the default account's Secret or
// $ONOMONDO_API_KEY.
func (o *options) apiClient(ctx context.Context) (*onomondo.Client, error) {
	if ref := o.accountRef(); ref != nil {
		c, err := o.kubeClient()
		if err != nil {
			return nil, err
		}
		api, err := o.accountAPI(ctx, c, o.namespace(), ref)
		if err != nil {
			return nil, fmt.Errorf("--account: %w", err)
		}
		return api, nil
	}
	cfg := onomondo.Config{BaseURL: o.apiURL, CAFile: o.apiCAFile, APIKey: os.Getenv("ONOMONDO_API_KEY")}
	if o.apiKeySecret != "" {
		ns, name, ok := strings.Cut(o.apiKeySecret, "/")
		if !ok {
			return nil, fmt.Errorf("--api-key-secret %q: want NAMESPACE/NAME", o.apiKeySecret)
		}
		c, err := o.kubeClient()
		if err != nil {
			return nil, err
		}
		if cfg.APIKey, err = accounts.ReadAPIKey(ctx, c, types.NamespacedName{Namespace: ns, Name: name}, ""); err != nil {
			return nil, err
		}
	}
	if cfg.APIKey == "" {
		return nil, errors.New("no API key: set --account, --api-key-secret NAMESPACE/NAME or $ONOMONDO_API_KEY")
	}
	return o.newAPI(cfg)
}

// accountRef is the --account as a manifest names it, nil without one.
func (o *options) accountRef() *v1alpha1.AccountReference {
	switch name, cluster := strings.CutPrefix(o.account, "ClusterAccount/"); {
	case o.account == "":
		return nil
	case cluster:
		return &v1alpha1.AccountReference{Kind: "ClusterAccount", Name: name}
	default:
		return &v1alpha1.AccountReference{Kind: "Account", Name: o.account}
	}
}

// newAPI makes a client with the --rate budget.
func (o *options) newAPI(cfg onomondo.Config) (*onomondo.Client, error) {
	cfg.Rate, cfg.Burst = o.rate, 1
	if cfg.Rate <= 0 {
		cfg.Rate = -1
	}
	return onomondo.New(cfg)
}

// accountAPI is the client of an account as a resource in namespace names
// it, resolved and refused exactly as the operator does (controller.Accounts):
// another namespace's Account, a ClusterAccount whose selector does not
// match the namespace, a missing Secret or key.
func (o *options) accountAPI(ctx context.Context, c client.Client, namespace string, ref *v1alpha1.AccountReference) (*onomondo.Client, error) {
	registry := accounts.Accounts{Client: c, Reader: c}
	api, err := registry.Resolve(ctx, namespace, ref)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", controller.Reason(err), err)
	}
	return api, nil
}

// accountClients makes each account's client once, for the manifests of a diff.
type accountClients struct {
	o    *options
	c    client.Client
	made map[string]accountClient
}

type accountClient struct {
	api *onomondo.Client
	err error
}

// get is the client of the account a resource in namespace names (nil: the flags').
func (a *accountClients) get(ctx context.Context, namespace string, ref *v1alpha1.AccountReference) (*onomondo.Client, error) {
	key := namespace + "|" + v1alpha1.AccountKey(namespace, ref) // whether it may be used depends on who asks
	if made, ok := a.made[key]; ok {
		return made.api, made.err
	}
	var made accountClient
	if ref == nil {
		made.api, made.err = a.o.apiClient(ctx)
	} else {
		made.api, made.err = a.o.accountAPI(ctx, a.c, namespace, ref)
	}
	a.made[key] = made
	return made.api, made.err
}

// listOptions are -n (or -A) and -l as list options.
func (o *options) listOptions(selector string, allNamespaces bool) ([]client.ListOption, error) {
	var opts []client.ListOption
	if !allNamespaces {
		opts = append(opts, client.InNamespace(o.namespace()))
	}
	if selector != "" {
		sel, err := labels.Parse(selector)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.MatchingLabelsSelector{Selector: sel})
	}
	return opts, nil
}
