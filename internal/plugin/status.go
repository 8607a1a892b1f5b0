package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// Summary is the fleet at a glance, as `kubectl sim status -o yaml` prints it.
type Summary struct {
	// Namespaces are the counts per namespace and account (default,
	// Account/NS/NAME or ClusterAccount/NAME).
	Namespaces []NamespaceSummary `json:"namespaces"`
	// NotReady and NotSynced are the reasons SIMs (and Connectors,
	// NetworkLists and Webhooks) are not
	// Ready or Synced, most frequent first, with a few example names.
	NotReady  []ReasonCount `json:"notReady"`
	NotSynced []ReasonCount `json:"notSynced"`
	// SMS counts messages by the Sent condition's reason.
	SMS []ReasonCount `json:"sms"`
}

// NamespaceSummary counts one namespace's resources of one account.
type NamespaceSummary struct {
	Namespace  string `json:"namespace"`
	Account    string `json:"account"`
	SIMs       int    `json:"sims"`
	Ready      int    `json:"ready"`
	Synced     int    `json:"synced"`
	Connectors int    `json:"connectors"`
	SMS        int    `json:"sms"`
	// NetworkLists and Webhooks are the current edition's kinds.
	NetworkLists int `json:"networkLists"`
	Webhooks     int `json:"webhooks"`
}

// ReasonCount is a reason, how many resources have it, and a few of them.
type ReasonCount struct {
	Reason   string   `json:"reason"`
	Count    int      `json:"count"`
	Examples []string `json:"examples,omitempty"`
}

const examplesPerReason = 3

func newStatusCommand(o *options) *cobra.Command {
	var selector, output string
	var allNamespaces, watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status [-A | -n NS] [-l SELECTOR] [--watch]",
		Short: "The fleet in one screen: counts by Ready and Synced reason, top reasons with examples, SMS outcomes",
		Example: `  # Every namespace, refreshed every 5 s
  kubectl sim status -A --watch

  # One fleet, as JSON
  kubectl sim status -n trackers -l fleet=eu -o json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.kubeClient()
			if err != nil {
				return err
			}
			for {
				s, err := o.summarise(cmd.Context(), c, selector, allNamespaces)
				if err != nil {
					return err
				}
				if err := printSummary(o.streams.Out, s, output); err != nil {
					return err
				}
				if !watch {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(interval):
					fmt.Fprintf(o.streams.Out, "\n--- %s\n", time.Now().Format(time.TimeOnly))
				}
			}
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "Label selector.")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "Across all namespaces.")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, json or yaml.")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "Print it again every --interval.")
	cmd.Flags().DurationVar(&interval, "interval", 5*time.Second, "How often --watch prints.")
	return cmd
}

// summarise lists SIMs, Connectors, NetworkLists, Webhooks and
// SMSMessages and counts them.
func (o *options) summarise(ctx context.Context, c client.Client, selector string, allNamespaces bool) (*Summary, error) {
	opts, err := o.listOptions(selector, allNamespaces)
	if err != nil {
		return nil, err
	}
	var sims v1alpha1.SIMList
	var conns v1alpha1.ConnectorList
	var msgs v1alpha1.SMSMessageList
	var lists v1alpha1.NetworkListList
	var hooks v1alpha1.WebhookList
	for _, l := range []client.ObjectList{&sims, &conns, &msgs, &lists, &hooks} {
		if err := c.List(ctx, l, opts...); err != nil {
			return nil, err
		}
	}
	byNS := map[string]*NamespaceSummary{}
	ns := func(name string, ref *v1alpha1.AccountReference) *NamespaceSummary {
		account := v1alpha1.AccountName(name, ref)
		if byNS[name+" "+account] == nil {
			byNS[name+" "+account] = &NamespaceSummary{Namespace: name, Account: account}
		}
		return byNS[name+" "+account]
	}
	notReady, notSynced, sms := reasons{}, reasons{}, reasons{}
	for i := range sims.Items {
		s := &sims.Items[i]
		n := ns(s.Namespace, s.Spec.AccountRef)
		n.SIMs++
		name := s.Namespace + "/" + s.Name
		if tally(s.Status.Conditions, v1alpha1.ConditionReady, name, notReady) {
			n.Ready++
		}
		if tally(s.Status.Conditions, v1alpha1.ConditionSynced, name, notSynced) {
			n.Synced++
		}
	}
	// The other kinds count only under their reasons.
	readyAndSynced := func(conds []metav1.Condition, name string) {
		tally(conds, v1alpha1.ConditionReady, name, notReady)
		tally(conds, v1alpha1.ConditionSynced, name, notSynced)
	}
	for i := range conns.Items {
		cn := &conns.Items[i]
		ns(cn.Namespace, cn.Spec.AccountRef).Connectors++
		readyAndSynced(cn.Status.Conditions, "connector "+cn.Namespace+"/"+cn.Name)
	}
	for i := range lists.Items {
		l := &lists.Items[i]
		ns(l.Namespace, l.Spec.AccountRef).NetworkLists++
		readyAndSynced(l.Status.Conditions, "networklist "+l.Namespace+"/"+l.Name)
	}
	for i := range hooks.Items {
		h := &hooks.Items[i]
		ns(h.Namespace, h.Spec.AccountRef).Webhooks++
		readyAndSynced(h.Status.Conditions, "webhook "+h.Namespace+"/"+h.Name)
	}
	for i := range msgs.Items {
		m := &msgs.Items[i]
		ns(m.Namespace, m.Spec.AccountRef).SMS++
		reason := "Pending"
		if c := meta.FindStatusCondition(m.Status.Conditions, v1alpha1.ConditionSent); c != nil {
			reason = c.Reason
		}
		sms.add(reason, m.Namespace+"/"+m.Name)
	}
	s := &Summary{NotReady: notReady.sorted(), NotSynced: notSynced.sorted(), SMS: sms.sorted()}
	for _, name := range slices.Sorted(mapKeys(byNS)) {
		s.Namespaces = append(s.Namespaces, *byNS[name])
	}
	return s, nil
}

// tally counts a resource whose condition is not True under its reason
// ("NotReconciled" before the operator's first status), and reports
// whether it is True.
func tally(conds []metav1.Condition, typ, name string, r reasons) bool {
	c := meta.FindStatusCondition(conds, typ)
	if c != nil && c.Status == "True" {
		return true
	}
	reason := "NotReconciled"
	if c != nil {
		reason = c.Reason
	}
	r.add(reason, name)
	return false
}

// reasons collects names by reason.
type reasons map[string][]string

func (r reasons) add(reason, name string) { r[reason] = append(r[reason], name) }

// sorted is most frequent first (then by reason), with a few sorted examples.
func (r reasons) sorted() []ReasonCount {
	out := make([]ReasonCount, 0, len(r))
	for reason, names := range r {
		slices.Sort(names)
		out = append(out, ReasonCount{Reason: reason, Count: len(names), Examples: names[:min(len(names), examplesPerReason)]})
	}
	slices.SortFunc(out, func(a, b ReasonCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func printSummary(w io.Writer, s *Summary, output string) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	case "yaml":
		b, err := yaml.Marshal(s)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "table", "":
	default:
		return fmt.Errorf("-o %q: want table, json or yaml", output)
	}
	tw := printers.GetNewTabWriter(w)
	fmt.Fprintln(tw, "NAMESPACE\tACCOUNT\tSIMS\tREADY\tSYNCED\tCONNECTORS\tNETWORKLISTS\tWEBHOOKS\tSMS")
	for _, n := range s.Namespaces {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", n.Namespace, n.Account, n.SIMs, n.Ready, n.Synced, n.Connectors,
			n.NetworkLists, n.Webhooks, n.SMS)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, section := range []struct {
		title string
		rows  []ReasonCount
	}{{"NOT READY", s.NotReady}, {"NOT SYNCED", s.NotSynced}, {"SMS", s.SMS}} {
		if len(section.rows) == 0 {
			continue
		}
		tw := printers.GetNewTabWriter(w) // each table aligns on its own
		fmt.Fprintf(tw, "\n%s\tCOUNT\tEXAMPLES\n", section.title)
		for _, r := range section.rows {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", r.Reason, r.Count, strings.Join(r.Examples, " "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
