package plugin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/manifests"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// Actions diff reports for a manifest.
const (
	actionCreate   = "create"
	actionAdopt    = "adopt"
	actionUpdate   = "update"
	actionNothing  = "nothing"
	actionObserve  = "observe"
	actionRefused  = "refused"
	actionNotKnown = "unknown"
)

// change is what the operator would do in the API for one manifest.
type change struct {
	namespace, name, action, detail string
}

func newDiffCommand(o *options) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "diff -f FILE|DIR",
		Short: "What the operator would do in the API for each SIM manifest; exit 1 when it would change something",
		Long: `For each SIM manifest: a server-side dry run (admission, defaults, CEL rules)
and one GET of the SIM in the API, then the operator's decision: create, adopt
(and PUT when it differs), update with the field-by-field change, nothing,
observe (ObserveOnly never writes), or refused. Nothing is written anywhere.
Exit code 1 when there are changes, as kubectl diff.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			changes, err := o.diff(cmd.Context(), files)
			if err != nil {
				return err
			}
			tw := printers.GetNewTabWriter(o.streams.Out)
			fmt.Fprintln(tw, "NAMESPACE\tNAME\tACTION\tCHANGES")
			changed := false
			for _, c := range changes {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.namespace, c.name, c.action, c.detail)
				changed = changed || (c.action != actionNothing && c.action != actionObserve)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if changed {
				return ExitError(1)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "Manifests: files or directories (recursively).")
	_ = cmd.MarkFlagRequired("filename")
	o.addAPIFlags(cmd)
	return cmd
}

func (o *options) diff(ctx context.Context, paths []string) ([]change, error) {
	sims, err := readSIMs(paths, o.namespace())
	if err != nil {
		return nil, err
	}
	c, err := o.kubeClient()
	if err != nil {
		return nil, err
	}
	api, err := o.apiClient(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]change, 0, len(sims))
	for _, s := range sims {
		out = append(out, decide(ctx, c, api, s))
	}
	return out, nil
}

// decide is the operator's decision for one manifest, without writing.
func decide(ctx context.Context, c client.Client, api *onomondo.Client, s *v1alpha1.SIM) change {
	ch := change{namespace: s.Namespace, name: s.Name}
	live := &v1alpha1.SIM{}
	err := c.Get(ctx, client.ObjectKeyFromObject(s), live)
	exists := err == nil
	if err := dryRun(ctx, c, s, exists); err != nil {
		ch.action, ch.detail = actionRefused, admissionMessage(err)
		return ch
	}
	id, bound := s.APIID(), exists && live.Status.Binding != nil
	if bound {
		if b := live.Status.Binding; b.IMSI != "" && s.Spec.IMSI != "" && s.Spec.IMSI != b.IMSI {
			ch.action, ch.detail = actionRefused, "IdentityMismatch: spec.imsi "+s.Spec.IMSI+" is not the bound SIM's "+b.IMSI
			return ch
		} else if b.IMSI != "" {
			id = b.IMSI
		} else if b.MSISDN != "" {
			id = b.MSISDN
		}
	}
	observe := s.Spec.ManagementPolicy == v1alpha1.ManagementPolicyObserveOnly
	current, err := api.GetSIM(ctx, id)
	var apiErr *onomondo.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound && observe:
		ch.action, ch.detail = actionObserve, "the SIM does not exist: "+apiErr.Code
		return ch
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound:
		ch.action, ch.detail = actionCreate, "POST /sim/"+id
		return ch
	case err != nil:
		ch.action, ch.detail = actionNotKnown, err.Error()
		return ch
	}
	fields := fieldChanges(s, current)
	detail := strings.Join(fields, ", ")
	switch {
	case observe && len(fields) == 0:
		ch.action, ch.detail = actionObserve, "matches"
	case observe:
		ch.action, ch.detail = actionObserve, "differs (never written): "+detail
	case !bound && len(fields) > 0:
		ch.action, ch.detail = actionAdopt, "then PUT "+detail
	case !bound:
		ch.action = actionAdopt
	case len(fields) > 0:
		ch.action, ch.detail = actionUpdate, "PUT "+detail
	default:
		ch.action = actionNothing
	}
	return ch
}

// fieldChanges lists "field: api → spec" for each setting the spec sets
// (and the MSISDN it names) that the API has otherwise.
func fieldChanges(s *v1alpha1.SIM, current *onomondo.SIM) []string {
	var out []string
	if want := strings.TrimPrefix(s.Spec.MSISDN, "+"); want != "" && want != strings.TrimPrefix(current.MSISDN, "+") {
		out = append(out, fmt.Sprintf("msisdn: %q → %q", current.MSISDN, want))
	}
	for _, f := range []struct {
		name string
		want *bool
		got  bool
	}{
		{"voice", s.Spec.Voice, current.Voice}, {"sms", s.Spec.SMS, current.SMS},
		{"data", s.Spec.Data, current.Data}, {"dataThrottling", s.Spec.DataThrottling, current.DataThrottling},
	} {
		if f.want != nil && *f.want != f.got {
			out = append(out, fmt.Sprintf("%s: %t → %t", f.name, f.got, *f.want))
		}
	}
	return out
}

// dryRun sends the manifest as kubectl apply --server-side --dry-run=server would.
func dryRun(ctx context.Context, c client.Client, s *v1alpha1.SIM, exists bool) error {
	if !exists {
		return c.Create(ctx, s.DeepCopy(), client.DryRunAll)
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
	if err != nil {
		return err
	}
	obj := &unstructured.Unstructured{Object: u}
	unstructured.RemoveNestedField(obj.Object, "status")
	unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
	return c.Patch(ctx, obj, client.Apply, client.DryRunAll, client.FieldOwner("kubectl-sim-diff"), client.ForceOwnership) //nolint:staticcheck
}

func admissionMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	return err.Error()
}

// readSIMs reads SIM manifests from files and directories (others are skipped).
func readSIMs(paths []string, namespace string) ([]*v1alpha1.SIM, error) {
	var out []*v1alpha1.SIM
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || (path != p && !strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml")) {
				return err
			}
			objs, err := manifests.ReadFile(path)
			if err != nil {
				return err
			}
			for _, u := range objs {
				if u.GetKind() != "SIM" || u.GroupVersionKind().Group != v1alpha1.GroupVersion.Group {
					continue
				}
				s := &v1alpha1.SIM{}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, s); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				if s.Namespace == "" {
					s.Namespace = namespace
				}
				out = append(out, s)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
