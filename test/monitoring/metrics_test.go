package monitoring_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/simulator"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

// expressions returns every PromQL expression of the alerts and the
// dashboard, by where it stands.
func expressions(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range loadAlerts(t, []string{"alerts.yaml"}) {
		out["alert "+a.Alert] = a.Expr
	}
	data, err := os.ReadFile(filepath.Join(monitoringDir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatal(err)
	}
	for _, p := range dashboard.Panels {
		for i, target := range p.Targets {
			out["panel "+p.Title+" #"+string(rune('A'+i))] = target.Expr
		}
	}
	return out
}

// metricNames parses an expression with Prometheus' parser and returns the
// metric names it selects.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, vs.Name)
		}
		return nil
	})
	if len(names) == 0 {
		t.Errorf("%s selects no metric: %s", where, expr)
	}
	return names
}

// exported starts a manager as main.go does, against envtest and the
// simulator, makes it create a SIM and send an SMS, and returns the metric
// families it exports (histograms with their _bucket, _sum, _count series).
func exported(t *testing.T) map[string]bool {
	t.Helper()
	_, cfg := testutil.StartControlPlane(t, "../../config/crd/bases")
	sim := testutil.Start(t, simulator.Options{})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, sim.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	o := app.DefaultOptions()
	o.APIURL, o.APICAFile, o.APIKey, o.APIRate = sim.URL(), ca, testutil.APIKey, -1
	o.MetricsAddr, o.ProbeAddr = "0", "0"
	o.DefaultAccountNamespaceSelector = app.AllNamespaces
	mgr, err := app.NewManager(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = mgr.Start(ctx) }()

	c, err := client.New(cfg, client.Options{Scheme: app.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet"}}
	s := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "tracker"},
		Spec: v1alpha1.SIMSpec{IMSI: "238730000000042", SIMSettings: v1alpha1.SIMSettings{Voice: ptr.To(false)}}}
	m := &v1alpha1.SMSMessage{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: "hello"},
		Spec: v1alpha1.SMSMessageSpec{To: "+4512345678", From: "Fleet", Text: "hello"}}
	for _, obj := range []client.Object{ns, s, m} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_ = c.Get(ctx, client.ObjectKeyFromObject(s), s)
		_ = c.Get(ctx, client.ObjectKeyFromObject(m), m)
		if meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.ConditionReady) &&
			meta.IsStatusConditionTrue(m.Status.Conditions, v1alpha1.ConditionSent) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the SIM did not become Ready and the SMS was not sent")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // the events drain after the burst yields
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+suffix] = true
			}
		}
	}
	return names
}

// Every alert and dashboard expression parses, and names only metrics the
// manager exports.
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	exprs := expressions(t)
	names := exported(t)
	for where, expr := range exprs {
		for _, name := range metricNames(t, where, expr) {
			if !names[name] {
				t.Errorf("%s uses %s, which the manager does not export", where, name)
			}
		}
	}
	if len(exprs) < 15 {
		t.Errorf("only %d expressions found: the dashboard or the alerts were not read", len(exprs))
	}
	for _, must := range []string{"sim_operator_resources_synced", "onomondo_api_requests_total", "sim_operator_build_info"} {
		if !strings.Contains(strings.Join(keys(names), " "), must) {
			t.Errorf("the manager does not export %s", must)
		}
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
