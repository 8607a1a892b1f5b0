package plugin

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

var (
	imsiRe   = regexp.MustCompile(`^[0-9]{15}$`)
	msisdnRe = regexp.MustCompile(`^\+?[1-9][0-9]{1,14}$`)
)

// importRow is one CSV row: the SIM it names and where its manifest goes.
type importRow struct {
	line                   int
	imsi, msisdn           string
	name, namespace        string
	labels                 map[string]string
	sim                    *onomondo.SIM
	current                *onomondo.CurrentSIM // a SIM of a Current account
	rejected, rejectReason string
}

type importOptions struct {
	csv, out       string
	observeOnly    bool
	deletionPolicy string
	workers        int
	// accountRef is the --account the SIMs were read through: the manifests
	// name it, so the operator reaches them through the same organisation.
	accountRef *v1alpha1.AccountReference
}

func newImportCommand(o *options) *cobra.Command {
	opts := importOptions{workers: 8}
	cmd := &cobra.Command{
		Use:   "import --csv FILE [--out DIR]",
		Short: "Write SIM manifests that reproduce live SIMs exactly, from a vendor's CSV export",
		Long: `Reads a CSV with columns imsi and/or msisdn (header names case-insensitive;
name, namespace and labels ("k=v;k2=v2") are honoured), GETs each SIM once
through the client-side budget (--rate), and writes one manifest per SIM with
its current settings, plus a kustomization.yaml, into --out (or stdout).
Applying them changes nothing in the API: each carries the observe-first
marker, so the operator adopts it with one GET and no write. Invalid, missing
and forbidden rows are summarised and written to rejected.csv.

With --account, the SIMs are read through that account and every manifest
names it in spec.accountRef. Exit status: 0 when every row was imported,
1 when some rows were rejected (the others are written), 2 on an error.`,
		Example: `  # Import through the default account's Secret, manifests into ./fleet
  kubectl sim import --csv export.csv --api-key-secret sim-operator-system/onomondo-api-key --out fleet/

  # Import an Account's SIMs in namespace team-acme, read-only
  kubectl sim import -n team-acme --account acme --csv export.csv --observe-only --out fleet/`,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.runImport(cmd.Context(), opts) },
	}
	cmd.Flags().StringVar(&opts.csv, "csv", "", "The vendor's CSV export (required for a Legacy account; a Current account's SIMs are listed from the API, 1,000 a call).")
	cmd.Flags().StringVar(&opts.out, "out", "", "Directory for the manifests, kustomization.yaml and rejected.csv (default: manifests on stdout).")
	cmd.Flags().BoolVar(&opts.observeOnly, "observe-only", false, "Write managementPolicy: ObserveOnly: the operator only reads and reports.")
	cmd.Flags().StringVar(&opts.deletionPolicy, "deletion-policy", string(v1alpha1.DeletionPolicyOrphan),
		"deletionPolicy of the manifests: Orphan (default: an imported SIM predates the operator, so deleting its manifest leaves it) or Delete.")
	o.addAPIFlags(cmd)
	return cmd
}

func (o *options) runImport(ctx context.Context, opts importOptions) error {
	if opts.deletionPolicy != string(v1alpha1.DeletionPolicyOrphan) && opts.deletionPolicy != string(v1alpha1.DeletionPolicyDelete) {
		return fmt.Errorf("--deletion-policy %q: want Orphan or Delete", opts.deletionPolicy)
	}
	api, err := o.apiClient(ctx)
	if err != nil {
		return err
	}
	opts.accountRef = o.accountRef()
	var rows []*importRow
	switch {
	case api.Current() && opts.csv == "":
		if rows, err = o.listCurrent(ctx, api); err != nil {
			return err
		}
	case opts.csv == "":
		return fmt.Errorf("--csv is required: the Legacy API cannot list SIMs (a Current account's can)")
	default:
		if rows, err = readCSV(opts.csv, o.namespace()); err != nil {
			return err
		}
		o.fetch(ctx, api, rows, opts.workers)
	}
	var imported, rejected []*importRow
	for _, r := range rows {
		if r.rejected != "" {
			rejected = append(rejected, r)
		} else {
			imported = append(imported, r)
		}
	}
	if err := writeManifests(o.streams.Out, opts, imported); err != nil {
		return err
	}
	if err := writeRejected(opts.out, rejected); err != nil {
		return err
	}
	if err := summarise(o.streams.ErrOut, opts.out, len(imported), rejected); err != nil {
		return err
	}
	if len(rejected) > 0 {
		return ExitError(1) // some rows were not imported
	}
	return nil
}

// readCSV parses the export; rows that cannot name a SIM are rejected here.
func readCSV(path, namespace string) ([]*importRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	r := csv.NewReader(f)
	r.FieldsPerRecord, r.TrimLeadingSpace = -1, true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	_, hasIMSI := col["imsi"]
	_, hasMSISDN := col["msisdn"]
	if !hasIMSI && !hasMSISDN {
		return nil, fmt.Errorf("%s: the header has neither an imsi nor an msisdn column", path)
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var rows []*importRow
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		row := &importRow{line: line, namespace: namespace}
		rows = append(rows, row)
		if err != nil {
			row.reject("invalid", err.Error())
			continue
		}
		row.imsi, row.msisdn = field(rec, "imsi"), controller.NormMSISDN(field(rec, "msisdn"))
		row.name = field(rec, "name")
		if ns := field(rec, "namespace"); ns != "" {
			row.namespace = ns
		}
		row.validate(field(rec, "labels"))
	}
}

func (r *importRow) reject(kind, reason string) {
	if r.rejected == "" {
		r.rejected, r.rejectReason = kind, reason
	}
}

// validate checks the row's identifiers, names and labels as admission would.
func (r *importRow) validate(labels string) {
	switch {
	case r.imsi == "" && r.msisdn == "":
		r.reject("invalid", "neither imsi nor msisdn")
	case r.imsi != "" && !imsiRe.MatchString(r.imsi):
		r.reject("invalid", fmt.Sprintf("imsi %q is not 15 digits", r.imsi))
	case r.msisdn != "" && !msisdnRe.MatchString(r.msisdn):
		r.reject("invalid", fmt.Sprintf("msisdn %q is not E.164", r.msisdn))
	}
	if r.name == "" {
		r.name = "sim-" + r.imsi
		if r.imsi == "" {
			r.name = "sim-" + r.msisdn
		}
	}
	if errs := validation.IsDNS1123Subdomain(r.name); len(errs) > 0 {
		r.reject("invalid", fmt.Sprintf("name %q: %s", r.name, strings.Join(errs, "; ")))
	}
	if errs := validation.IsDNS1123Label(r.namespace); len(errs) > 0 {
		r.reject("invalid", fmt.Sprintf("namespace %q: %s", r.namespace, strings.Join(errs, "; ")))
	}
	for _, kv := range strings.FieldsFunc(labels, func(c rune) bool { return c == ';' || c == ' ' }) {
		k, v, _ := strings.Cut(kv, "=")
		if len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
			r.reject("invalid", fmt.Sprintf("label %q", kv))
			continue
		}
		if r.labels == nil {
			r.labels = map[string]string{}
		}
		r.labels[k] = v
	}
}

// fetch GETs every valid row's SIM once, through the client's budget, with a
// progress bar on stderr.
func (o *options) fetch(ctx context.Context, api *onomondo.Client, rows []*importRow, workers int) {
	bar := progressbar.NewOptions(len(rows), progressbar.OptionSetWriter(o.streams.ErrOut),
		progressbar.OptionSetDescription("reading SIMs from the API"), progressbar.OptionShowCount(),
		progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(0))
	work := make(chan *importRow)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for r := range work {
				r.fetch(ctx, api)
				_ = bar.Add(1)
			}
		})
	}
	for _, r := range rows {
		work <- r
	}
	close(work)
	wg.Wait()
	_ = bar.Finish()
}

func (r *importRow) fetch(ctx context.Context, api *onomondo.Client) {
	if r.rejected != "" {
		return
	}
	id := r.imsi
	if id == "" {
		id = r.msisdn
	}
	sim, err := api.GetSIM(ctx, id)
	var apiErr *onomondo.APIError
	switch {
	case controller.NotInAccount(err):
		r.reject("not found", err.Error())
	case errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusForbidden:
		r.reject("forbidden", err.Error())
	case err != nil:
		r.reject("failed", err.Error())
	case r.imsi != "" && r.msisdn != "" && controller.NormMSISDN(sim.MSISDN) != r.msisdn:
		r.reject("mismatch", fmt.Sprintf("the API reports msisdn %q for imsi %s, the CSV %q", sim.MSISDN, r.imsi, r.msisdn))
	default:
		r.sim = sim
	}
}

// listCurrent lists a Current account's SIMs, 1,000 a call, as rows.
func (o *options) listCurrent(ctx context.Context, api *onomondo.Client) ([]*importRow, error) {
	var rows []*importRow
	for next := ""; ; {
		page, err := api.ListSIMs(ctx, next, 0)
		if err != nil {
			return nil, err
		}
		for i := range page.SIMs {
			c := &page.SIMs[i]
			rows = append(rows, &importRow{line: len(rows) + 1, name: "sim-" + c.ID, namespace: o.namespace(), current: c})
		}
		fmt.Fprintf(o.streams.ErrOut, "listed %d SIMs\n", len(rows))
		if next = page.Next; next == "" {
			return rows, nil
		}
	}
}

// manifest reproduces the SIM as the API reported it.
func (r *importRow) manifest(opts importOptions) *v1alpha1.SIM {
	if r.current != nil {
		s := &v1alpha1.SIM{
			TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "SIM"},
			ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: r.namespace,
				Annotations: map[string]string{v1alpha1.AnnotationObserveFirst: "true"}},
			Spec: v1alpha1.SIMSpec{SIMID: r.current.ID, CurrentSettings: controller.CurrentSettingsOf(r.current),
				ManagedPolicies: v1alpha1.ManagedPolicies{DeletionPolicy: v1alpha1.DeletionPolicy(opts.deletionPolicy), AccountRef: opts.accountRef}},
		}
		if opts.observeOnly {
			s.Spec.ManagementPolicy = v1alpha1.ManagementPolicyObserveOnly
		}
		return s
	}
	s := &v1alpha1.SIM{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "SIM"},
		ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: r.namespace, Labels: r.labels,
			Annotations: map[string]string{v1alpha1.AnnotationObserveFirst: "true"}},
		Spec: controller.SIMSpecOf(r.sim),
	}
	s.Spec.ManagedPolicies = v1alpha1.ManagedPolicies{DeletionPolicy: v1alpha1.DeletionPolicy(opts.deletionPolicy), AccountRef: opts.accountRef}
	if opts.observeOnly {
		s.Spec.ManagementPolicy = v1alpha1.ManagementPolicyObserveOnly
	}
	return s
}

// writeManifests writes one file per SIM (<namespace>/<name>.yaml) and a
// kustomization.yaml listing them, or every manifest to out. The output is
// a function of the CSV and the API alone: a re-run writes the same bytes.
func writeManifests(out io.Writer, opts importOptions, rows []*importRow) error {
	slices.SortFunc(rows, func(a, b *importRow) int { return strings.Compare(a.namespace+"/"+a.name, b.namespace+"/"+b.name) })
	var resources []string
	for _, r := range rows {
		data, err := yaml.Marshal(r.manifest(opts))
		if err != nil {
			return err
		}
		data = stripStatus(data)
		if opts.out == "" {
			if _, err := fmt.Fprintf(out, "---\n%s", data); err != nil {
				return err
			}
			continue
		}
		rel := filepath.Join(r.namespace, r.name+".yaml")
		if err := os.MkdirAll(filepath.Join(opts.out, r.namespace), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(opts.out, rel), data, 0o644); err != nil {
			return err
		}
		resources = append(resources, rel)
	}
	if opts.out == "" {
		return nil
	}
	k, err := yaml.Marshal(map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(opts.out, "kustomization.yaml"), k, 0o644)
}

// stripStatus drops the empty status and creationTimestamp a typed object marshals.
func stripStatus(data []byte) []byte {
	var m map[string]any
	if yaml.Unmarshal(data, &m) != nil {
		return data
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return data
	}
	return out
}

// writeRejected writes the rows that were not imported, with why.
func writeRejected(dir string, rejected []*importRow) error {
	if dir == "" {
		return nil
	}
	f, err := os.Create(filepath.Join(dir, "rejected.csv"))
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"line", "imsi", "msisdn", "why", "detail"})
	slices.SortFunc(rejected, func(a, b *importRow) int { return a.line - b.line })
	for _, r := range rejected {
		_ = w.Write([]string{fmt.Sprint(r.line), r.imsi, r.msisdn, r.rejected, r.rejectReason})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// summarise prints the counts by outcome on stderr.
func summarise(w io.Writer, dir string, imported int, rejected []*importRow) error {
	counts := map[string]int{}
	for _, r := range rejected {
		counts[r.rejected]++
	}
	tw := printers.GetNewTabWriter(w)
	fmt.Fprintln(tw, "OUTCOME\tSIMS")
	fmt.Fprintf(tw, "imported\t%d\n", imported)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range counts {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(tw, "%s\t%d\n", k, counts[k])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rejected) > 0 && dir != "" {
		fmt.Fprintf(w, "rejected rows and why: %s\n", filepath.Join(dir, "rejected.csv"))
	}
	return nil
}
