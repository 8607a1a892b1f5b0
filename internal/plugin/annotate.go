package plugin

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// newAnnotateCommand is retry, pause or resume: one patch of the operator's
// annotations per resource, reported in a table.
func newAnnotateCommand(o *options, verb, short string) *cobra.Command {
	var selector, kind string
	var all, allNamespaces bool
	cmd := &cobra.Command{
		Use:   verb + " [NAME...] [-l SELECTOR | --all]",
		Short: short,
		Example: fmt.Sprintf(`  # One SIM
  kubectl sim %[1]s tracker-0001 -n trackers

  # Every connector of a namespace
  kubectl sim %[1]s --all --kind connector -n trackers

  # A fleet across namespaces
  kubectl sim %[1]s -A -l fleet=eu`, verb),
		RunE: func(cmd *cobra.Command, names []string) error {
			if len(names) == 0 && selector == "" && !all {
				return fmt.Errorf("name resources, or select them with -l or --all")
			}
			c, err := o.kubeClient()
			if err != nil {
				return err
			}
			targets, err := o.targets(cmd, c, kind, names, selector, allNamespaces)
			if err != nil {
				return err
			}
			patch := annotationPatch(verb, time.Now())
			tw := printers.GetNewTabWriter(o.streams.Out)
			fmt.Fprintln(tw, "NAMESPACE\tNAME\tACTION\tRESULT")
			failed := 0
			for _, obj := range targets {
				result := "done"
				if err := c.Patch(cmd.Context(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
					result, failed = err.Error(), failed+1
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", obj.GetNamespace(), obj.GetName(), verb, result)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d patches failed", failed, len(targets))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Label selector.")
	cmd.Flags().BoolVar(&all, "all", false, "Every resource of the kind in the namespace (or all namespaces with -A).")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "Across all namespaces.")
	cmd.Flags().StringVar(&kind, "kind", "sim", "sim or connector.")
	return cmd
}

// annotationPatch is the merge patch of a verb: retry stamps requested-at,
// pause sets paused, resume removes it.
func annotationPatch(verb string, now time.Time) []byte {
	var annotations map[string]any
	switch verb {
	case "retry":
		annotations = map[string]any{v1alpha1.AnnotationRequestedAt: now.UTC().Format(time.RFC3339Nano)}
	case "pause":
		annotations = map[string]any{v1alpha1.AnnotationPaused: "true"}
	case "resume":
		annotations = map[string]any{v1alpha1.AnnotationPaused: nil}
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	return b
}

// targets are the named resources, or those the selector (or --all) picks.
func (o *options) targets(cmd *cobra.Command, c client.Client, kind string, names []string, selector string, allNamespaces bool) ([]client.Object, error) {
	var list client.ObjectList
	switch kind {
	case "sim", "sims":
		list = &v1alpha1.SIMList{}
	case "connector", "connectors":
		list = &v1alpha1.ConnectorList{}
	default:
		return nil, fmt.Errorf("--kind %q: want sim or connector", kind)
	}
	opts, err := o.listOptions(selector, allNamespaces)
	if err != nil {
		return nil, err
	}
	if err := c.List(cmd.Context(), list, opts...); err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	wanted := map[string]bool{}
	for _, n := range names {
		wanted[n] = true
	}
	var out []client.Object
	for _, item := range items {
		if obj := item.(client.Object); len(names) == 0 || wanted[obj.GetName()] {
			out = append(out, obj)
			delete(wanted, obj.GetName())
		}
	}
	for n := range wanted {
		return nil, fmt.Errorf("%s %q not found in namespace %s", kind, n, o.namespace())
	}
	return out, nil
}
