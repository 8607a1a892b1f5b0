// Package plugin is kubectl-sim: the sim-operator's kubectl plugin. It speaks
// the cluster's language (kubeconfig flags, -n, -A, -l, -o) through
// k8s.io/cli-runtime, and the Onomondo API through the operator's own client.
package plugin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
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
	root.AddCommand(newImportCommand(o), newStatusCommand(o), newDiffCommand(o),
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

// apiClient is the operator's own API client, with the key from the Secret
// the flags name or from $ONOMONDO_API_KEY.
func (o *options) apiClient(ctx context.Context) (*onomondo.Client, error) {
	cfg := onomondo.Config{BaseURL: o.apiURL, CAFile: o.apiCAFile, APIKey: os.Getenv("ONOMONDO_API_KEY"), Rate: o.rate, Burst: 1}
	if cfg.Rate <= 0 {
		cfg.Rate = -1
	}
	secret, key := types.NamespacedName{}, "apiKey"
	if o.apiKeySecret != "" {
		ns, name, ok := strings.Cut(o.apiKeySecret, "/")
		if !ok {
			return nil, fmt.Errorf("--api-key-secret %q: want NAMESPACE/NAME", o.apiKeySecret)
		}
		secret = types.NamespacedName{Namespace: ns, Name: name}
	}
	if o.account != "" {
		spec, ref, err := o.accountSpec(ctx)
		if err != nil {
			return nil, err
		}
		cfg.BaseURL, cfg.CAFile, cfg.CAPEM = spec.APIURL, "", []byte(spec.CABundle)
		secret, key = ref, spec.APIKeySecretRef.Key
	}
	if secret.Name != "" {
		c, err := o.kubeClient()
		if err != nil {
			return nil, err
		}
		var s corev1.Secret
		if err := c.Get(ctx, secret, &s); err != nil {
			return nil, fmt.Errorf("reading the API key Secret %s: %w", secret, err)
		}
		cfg.APIKey = string(s.Data[cmp.Or(key, "apiKey")])
	}
	if cfg.APIKey == "" {
		return nil, errors.New("no API key: set --account, --api-key-secret NAMESPACE/NAME or $ONOMONDO_API_KEY")
	}
	return onomondo.New(cfg)
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

// accountSpec reads the --account named and where its key Secret is.
func (o *options) accountSpec(ctx context.Context) (v1alpha1.AccountSpec, types.NamespacedName, error) {
	c, err := o.kubeClient()
	if err != nil {
		return v1alpha1.AccountSpec{}, types.NamespacedName{}, err
	}
	if name, ok := strings.CutPrefix(o.account, "ClusterAccount/"); ok {
		var a v1alpha1.ClusterAccount
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &a); err != nil {
			return v1alpha1.AccountSpec{}, types.NamespacedName{}, fmt.Errorf("--account: %w", err)
		}
		ref := a.Spec.APIKeySecretRef
		return a.Spec.AccountSpec, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, nil
	}
	var a v1alpha1.Account
	if err := c.Get(ctx, client.ObjectKey{Namespace: o.namespace(), Name: o.account}, &a); err != nil {
		return v1alpha1.AccountSpec{}, types.NamespacedName{}, fmt.Errorf("--account: %w", err)
	}
	return a.Spec, types.NamespacedName{Namespace: a.Namespace, Name: a.Spec.APIKeySecretRef.Name}, nil
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
