package plugin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/cli-runtime/pkg/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/decision"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// Actions diff reports for a manifest.
const (
	actionCreate   = "create"
	actionAdopt    = "adopt"
	actionUpdate   = "update"
	actionNothing  = "nothing"
	actionObserve  = "observe"
	actionPaused   = "paused"
	actionRefused  = "refused"
	actionNotKnown = "unknown"
)

// change is what the operator would do in the API for one manifest.
type change struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Account is the account the manifest's calls go through ("default"
	// for the flag-configured one).
	Account string `json:"account"`
	Action  string `json:"action"`
	Detail  string `json:"detail,omitempty"`
}

// changed: applying the manifest would write to the API.
func (c change) changed() bool {
	return c.Action != actionNothing && c.Action != actionObserve && c.Action != actionPaused
}

type diffOptions struct {
	files  resource.FilenameOptions
	output string
}

func newDiffCommand(o *options) *cobra.Command {
	var opts diffOptions
	cmd := &cobra.Command{
		Use:   "diff -f FILE|DIR|- [-R] | -k DIR",
		Short: "What the operator would do in the API for each SIM and Connector manifest; exit 1 when it would change something",
		Long: `For each SIM and Connector manifest: a server-side dry run (admission,
defaults, CEL rules) and one GET in the API, through the manifest's own
account (spec.accountRef; the flags' API and key for manifests without one),
then the operator's decision: create, adopt (and PUT when it differs), update
with the field-by-field change, nothing, observe (ObserveOnly never writes),
paused, or refused (admission, or an account the namespace may not use).
Nothing is written anywhere.

Exit status: 0 without changes, 1 when there are changes (as kubectl diff),
2 on an error.`,
		Example: `  # Preview a directory of manifests, as Argo CD would apply them
  kubectl sim diff -f fleet/ -R

  # A kustomization, as JSON for a CI step
  kubectl sim diff -k overlays/production -o json

  # From stdin
  kustomize build overlays/production | kubectl sim diff -f -`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			changes, err := o.diff(cmd.Context(), opts)
			if err != nil {
				return err
			}
			if err := printChanges(o, opts.output, changes); err != nil {
				return err
			}
			for _, c := range changes {
				if c.changed() {
					return ExitError(1)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&opts.files.Filenames, "filename", "f", nil, "Manifests: files, directories, or - for stdin.")
	cmd.Flags().StringVarP(&opts.files.Kustomize, "kustomize", "k", "", "A kustomization directory, built as kubectl -k does.")
	cmd.Flags().BoolVarP(&opts.files.Recursive, "recursive", "R", false, "Read the directories given with -f recursively.")
	cmd.Flags().StringVarP(&opts.output, "output", "o", "", "Output format: json or yaml (default: a table).")
	o.addAPIFlags(cmd)
	return cmd
}

// printChanges writes the changes as a table, JSON or YAML.
func printChanges(o *options, output string, changes []change) error {
	switch output {
	case "json":
		b, err := json.MarshalIndent(map[string]any{"changes": changes}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(o.streams.Out, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(map[string]any{"changes": changes})
		if err != nil {
			return err
		}
		_, err = o.streams.Out.Write(b)
		return err
	case "":
		tw := printers.GetNewTabWriter(o.streams.Out)
		fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tACCOUNT\tACTION\tCHANGES")
		for _, c := range changes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Kind, c.Namespace, c.Name, c.Account, c.Action, c.Detail)
		}
		return tw.Flush()
	}
	return fmt.Errorf("-o %q: want json or yaml", output)
}

func (o *options) diff(ctx context.Context, opts diffOptions) ([]change, error) {
	if len(opts.files.Filenames) == 0 && opts.files.Kustomize == "" {
		return nil, errors.New("give manifests with -f FILE|DIR|- or -k DIR")
	}
	objs, err := o.readManifests(opts.files)
	if err != nil {
		return nil, err
	}
	c, err := o.kubeClient()
	if err != nil {
		return nil, err
	}
	clients := accountClients{o: o, c: c, made: map[string]accountClient{}}
	out := make([]change, 0, len(objs))
	for _, obj := range objs {
		switch m := obj.(type) {
		case *v1alpha1.SIM:
			out = append(out, decideSIM(ctx, c, &clients, m))
		case *v1alpha1.Connector:
			out = append(out, decideConnector(ctx, c, &clients, m))
		}
	}
	return out, nil
}

// readManifests reads SIM and Connector manifests through cli-runtime's
// builder, as kubectl does with -f, -k and -R; other kinds are skipped.
func (o *options) readManifests(files resource.FilenameOptions) ([]client.Object, error) {
	infos, err := resource.NewBuilder(o.kube).Unstructured().Local().ContinueOnError().
		FilenameParam(false, &files).
		NamespaceParam(o.namespace()).DefaultNamespace().
		Flatten().Do().Infos()
	if err := withoutKustomizations(err); err != nil {
		return nil, err
	}
	var out []client.Object
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok || u.GroupVersionKind().Group != v1alpha1.GroupVersion.Group {
			continue
		}
		var obj client.Object
		switch u.GetKind() {
		case "SIM":
			obj = &v1alpha1.SIM{}
		case "Connector":
			obj = &v1alpha1.Connector{}
		default:
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
			return nil, fmt.Errorf("%s: %w", info.Source, err)
		}
		if obj.GetNamespace() == "" {
			obj.SetNamespace(info.Namespace)
		}
		out = append(out, obj)
	}
	return out, nil
}

// withoutKustomizations drops the errors of kustomization files met in a
// directory given with -f (kubectl sim import writes one beside the
// manifests): they are no manifests.
func withoutKustomizations(err error) error {
	if err == nil {
		return nil
	}
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) {
		agg = utilerrors.NewAggregate([]error{err})
	}
	return utilerrors.FilterOut(agg, func(e error) bool {
		msg := e.Error()
		return strings.Contains(msg, "/kustomization.yaml\"") || strings.Contains(msg, "/kustomization.yml\"") ||
			strings.Contains(msg, "/Kustomization\"")
	})
}

// refusal is a change the operator would not make, before any call.
func refusal(ch change, detail string) change {
	ch.Action, ch.Detail = actionRefused, detail
	return ch
}

// refused describes a refusal as the operator's status does: its reason, then why.
func refused(ch change, err error) change {
	return refusal(ch, controller.Reason(err)+": "+err.Error())
}

// preamble is what every manifest goes through before the API is asked:
// the live object, admission, pause, and its account's client. The
// manifest takes the live object's status and UID: it is the object the
// operator will see once applied.
func preamble(ctx context.Context, c client.Client, clients *accountClients, obj, live client.Object, kind string,
	ref *v1alpha1.AccountReference) (ch change, api *onomondo.Client, done bool) {
	ch = change{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), Account: v1alpha1.AccountName(obj.GetNamespace(), ref)}
	exists := c.Get(ctx, client.ObjectKeyFromObject(obj), live) == nil
	if err := dryRun(ctx, c, obj, exists); err != nil {
		return refusal(ch, admissionMessage(err)), nil, true
	}
	if exists {
		obj.SetUID(live.GetUID())
	}
	if decision.Decide(decision.Facts{Paused: controller.Paused(obj)}) == decision.Paused {
		ch.Action, ch.Detail = actionPaused, "no call while "+v1alpha1.AnnotationPaused+"=true"
		return ch, nil, true
	}
	api, err := clients.get(ctx, obj.GetNamespace(), ref)
	if err != nil {
		return refusal(ch, err.Error()), nil, true
	}
	return ch, api, false
}

// beforeRead are the facts the operator weighs before any call: a field of
// the other edition, another resource's claim (read from the apiserver),
// another object than the bound one. A diff is a sync request: it reads.
func beforeRead(ctx context.Context, c client.Client, api *onomondo.Client, obj client.Object, kind, claimID string,
	edition, identity error, observeOnly, bound bool) (decision.Facts, error) {
	f := decision.Facts{Refusal: edition, SyncRequested: true, ObserveOnly: observeOnly, Bound: bound, IdentityError: identity}
	if f.Refusal == nil {
		var err error
		// A user who may not read Claims (cluster-scoped) sees no duplicate across namespaces.
		if f.Refusal, err = controller.ClaimHeldElsewhere(ctx, c, api.Organisation(), kind, claimID, obj); err != nil && !apierrors.IsForbidden(err) {
			return f, err
		}
	}
	return f, nil
}

// decideSIM is the operator's decision for one SIM manifest, without writing.
func decideSIM(ctx context.Context, c client.Client, clients *accountClients, s *v1alpha1.SIM) change {
	live := &v1alpha1.SIM{}
	ch, api, done := preamble(ctx, c, clients, s, live, "SIM", s.Spec.AccountRef)
	if done {
		return ch
	}
	s.Status = live.Status
	f, err := beforeRead(ctx, c, api, s, "SIM", controller.SIMClaimID(s), controller.SIMEditionError(s, api.Current()),
		controller.SIMIdentityError(s), s.Spec.ManagementPolicy == v1alpha1.ManagementPolicyObserveOnly, controller.SIMBound(s))
	if err != nil {
		ch.Action, ch.Detail = actionNotKnown, err.Error()
		return ch
	}
	if decision.Decide(f) == decision.Refuse {
		return refused(ch, cmp.Or(f.Refusal, f.IdentityError))
	}
	write, create := "PUT ", "POST /sim/"+s.APIID()
	if api.Current() {
		write = "PATCH "
	}
	read, o, err := controller.ReadSIM(ctx, api, s)
	if err != nil {
		ch.Action, ch.Detail = actionNotKnown, err.Error()
		return ch
	}
	f = f.WithRead(read)
	return describe(ch, decision.Decide(f), f, o.Diff, write, create)
}

// decideConnector is the operator's decision for one Connector manifest.
func decideConnector(ctx context.Context, c client.Client, clients *accountClients, conn *v1alpha1.Connector) change {
	live := &v1alpha1.Connector{}
	ch, api, done := preamble(ctx, c, clients, conn, live, "Connector", conn.Spec.AccountRef)
	if done {
		return ch
	}
	conn.Status = live.Status
	f, err := beforeRead(ctx, c, api, conn, "Connector", controller.ConnectorClaimID(conn), nil, nil,
		conn.Spec.ManagementPolicy == v1alpha1.ManagementPolicyObserveOnly, controller.ConnectorBound(conn))
	if err != nil {
		ch.Action, ch.Detail = actionNotKnown, err.Error()
		return ch
	}
	if decision.Decide(f) == decision.Refuse {
		return refused(ch, f.Refusal)
	}
	read, o, err := controller.ReadConnector(ctx, api, conn)
	if err != nil {
		ch.Action, ch.Detail = actionNotKnown, err.Error()
		return ch
	}
	f = f.WithRead(read)
	return describe(ch, decision.Decide(f), f, o.Diff, "PUT ", "POST /connector/"+conn.Spec.ID)
}

// describe says what the decision does for this manifest: the fields a
// write would change, or why nothing is written.
func describe(ch change, act decision.Action, f decision.Facts, fields []string, write, create string) change {
	detail := strings.Join(fields, ", ")
	switch act {
	case decision.Refuse:
		return refused(ch, cmp.Or(f.Refusal, f.IdentityError))
	case decision.Create:
		ch.Action, ch.Detail = actionCreate, create
	case decision.Observe:
		switch {
		case !f.Exists:
			ch.Action, ch.Detail = actionObserve, "does not exist"
		case len(fields) == 0:
			ch.Action, ch.Detail = actionObserve, "matches"
		default:
			ch.Action, ch.Detail = actionObserve, "differs (never written): "+detail
		}
	case decision.Update:
		ch.Action, ch.Detail = actionUpdate, write+detail
		if !f.Bound {
			ch.Action, ch.Detail = actionAdopt, "then "+write+detail
		}
	default:
		ch.Action = actionNothing
		if !f.Bound {
			ch.Action = actionAdopt
		}
	}
	return ch
}

// dryRun sends the manifest as kubectl apply --server-side --dry-run=server would.
func dryRun(ctx context.Context, c client.Client, obj client.Object, exists bool) error {
	if !exists {
		return c.Create(ctx, obj.DeepCopyObject().(client.Object), client.DryRunAll)
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	patch := &unstructured.Unstructured{Object: u}
	unstructured.RemoveNestedField(patch.Object, "status")
	unstructured.RemoveNestedField(patch.Object, "metadata", "creationTimestamp")
	return c.Patch(ctx, patch, client.Apply, client.DryRunAll, client.FieldOwner("kubectl-sim-diff"), client.ForceOwnership) //nolint:staticcheck
}

func admissionMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	return err.Error()
}
