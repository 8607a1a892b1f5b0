package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/sandbox"
)

// The sandbox's demo, as `make sandbox ARGS=--demo` runs it: every sample
// becomes Ready with one POST each, and the state files say how to connect.
func TestSandboxDemo(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS not set; `make test` sets it")
	}
	var logs bytes.Buffer
	logf.SetLogger(zap.New(zap.WriteTo(&syncWriter{w: &logs})))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := app.DefaultOptions()
	o.MetricsAddr, o.ProbeAddr, o.SeveralManagersInProcess = "0", "0", true
	o.DefaultAccountNamespaceSelector = "kubernetes.io/metadata.name in (default)"
	state := t.TempDir()
	sb, err := sandbox.Start(ctx, sandbox.Options{RepoRoot: "../..", StateDir: state, Operator: o})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Stop()

	objs, err := sb.ApplySamples(ctx, "../../config/samples")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) < 6 {
		t.Fatalf("applied %d samples, want 3 SIMs, 2 SMSMessages and a Connector", len(objs))
	}
	if err := sb.WaitReady(ctx, objs); err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := sb.PrintSIMs(ctx, &table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tracker-0001", "meter-0002", "handset-0003", "Available"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var conns strings.Builder
	if err := sb.PrintConnectors(ctx, &conns); err != nil {
		t.Fatal(err)
	}
	if row := strings.Fields(strings.Split(conns.String(), "\n")[1]); len(row) < 5 || row[1] != "fleet-webhook" || row[3] != "True" {
		t.Errorf("connectors table, want fleet-webhook Ready:\n%s", conns.String())
	}
	posts := 0
	for _, r := range sb.Sim.Requests() {
		if r.Method != "POST" || r.Status != 200 {
			t.Errorf("unexpected API call %s %s %d", r.Method, r.Path, r.Status)
		}
		posts++
	}
	if posts != 6 {
		t.Errorf("%d POSTs for 3 sample SIMs, 2 SMS and a connector", posts)
	}
	if sms := sb.Sim.SMS(); len(sms) != 2 {
		t.Errorf("the simulator accepted %d SMS, want the 2 samples", len(sms))
	}

	// The organisation on the current API: SIMs bound from one list, a
	// PATCH each, the network list adopted, one webhook made.
	current, err := sb.ApplySamples(ctx, "../../config/samples/current")
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.WaitReady(ctx, current); err != nil {
		t.Fatal(err)
	}
	var calls []string
	for _, r := range sb.Sim.Orgs[sandbox.CurrentOrgKey].Requests() {
		if r.Path != "/tags/search/tags" {
			calls = append(calls, r.Method+" "+r.Path)
		}
	}
	slices.Sort(calls)
	want := []string{"GET /network-whitelists/nordics", "GET /sims", "GET /webhooks", "PATCH /network-whitelists/nordics",
		"PATCH /sims/000000240", "PATCH /sims/000000241", "POST /network-whitelists", "POST /webhooks"}
	if !slices.Equal(calls, want) {
		t.Errorf("calls to the current organisation:\n%q\nwant\n%q", calls, want)
	}

	var info sandbox.SimulatorInfo
	raw, err := os.ReadFile(filepath.Join(state, "simulator.json"))
	if err != nil || json.Unmarshal(raw, &info) != nil || info.URL != sb.Sim.URL() || info.APIKey == "" {
		t.Fatalf("simulator.json = %s (%v)", raw, err)
	}
	if _, err := os.Stat(filepath.Join(state, "kubeconfig")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(info.CAFile); err != nil {
		t.Fatal(err)
	}

	// The state gauges count the samples from the cache.
	fams, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	gauges := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			gauges[key] = m.GetGauge().GetValue()
		}
	}
	if gauges["sim_operator_sims,account=default,ready=True,reason=Available"] != 3 || gauges["sim_operator_sms_messages,account=default,state=Accepted"] != 2 {
		t.Errorf("state gauges = %v", gauges)
	}

	// The operator's structured logs name each resource and its IMSI, and
	// never the API key.
	sb.Stop()
	out := logs.String()
	if strings.Contains(out, sandbox.APIKey) {
		t.Error("the API key appears in the operator's logs")
	}
	if !strings.Contains(out, `"imsi":"238731234567890"`) || !strings.Contains(out, `"name":"tracker-0001"`) || !strings.Contains(out, `"namespace":"default"`) {
		t.Errorf("log lines about tracker-0001 lack its namespace/name or IMSI:\n%s", out)
	}
}

// syncWriter serializes the manager's concurrent log writes.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
