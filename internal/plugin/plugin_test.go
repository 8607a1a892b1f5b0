package plugin

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sim-operator/sim-operator/internal/manifests"
	"github.com/sim-operator/sim-operator/internal/onomondo"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/simulator"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

// fixture is a control plane, the simulator and a running manager, and the
// flags that point kubectl sim at them.
type fixture struct {
	c     client.Client
	sim   *testutil.SimServer
	flags []string
}

func start(t *testing.T) *fixture {
	t.Helper()
	env, cfg := testutil.StartControlPlane(t, "../../config/crd/bases")
	user, err := env.AddUser(envtest.User{Name: "fleet-owner", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kubeconfig"), kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	sim := testutil.Start(t, simulator.Options{})
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), sim.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	o := app.DefaultOptions()
	o.APIURL, o.APICAFile, o.APIKey, o.APIRate = sim.URL(), filepath.Join(dir, "ca.pem"), testutil.APIKey, -1
	o.MetricsAddr, o.ProbeAddr = "0", "0"
	o.MinBackoff, o.MaxBackoff = 20*time.Millisecond, 500*time.Millisecond
	o.SeveralManagersInProcess = true
	o.DefaultAccountNamespaceSelector = app.AllNamespaces
	o.KubeAPIQPS, o.KubeAPIBurst = 2000, 4000
	mgr, err := app.NewManager(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = mgr.Start(ctx) }()
	fast := rest.CopyConfig(cfg)
	fast.QPS, fast.Burst = 2000, 4000 // applying 980 manifests, not client-go's 5/s
	c, err := client.New(fast, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("ONOMONDO_API_KEY", testutil.APIKey)
	return &fixture{c: c, sim: sim, flags: []string{
		"--kubeconfig", filepath.Join(dir, "kubeconfig"),
		"--api-url", sim.URL(), "--api-ca-file", filepath.Join(dir, "ca.pem"),
	}}
}

// run runs kubectl sim with the fixture's flags; it returns stdout, stderr
// and the error (an ExitError for diff's changes).
func (f *fixture) run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(append(args, f.flagsFor(args[0])...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// flagsFor leaves out the API flags for the commands that do not take them.
func (f *fixture) flagsFor(command string) []string {
	if command == "import" || command == "diff" {
		return f.flags
	}
	return f.flags[:2]
}

func (f *fixture) createNamespace(t *testing.T, name string) {
	t.Helper()
	if err := f.c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls until cond holds, at most 60 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, what, 60*time.Second, 100*time.Millisecond, cond)
}

func TestImportApplyDiffStatusAndSteer(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	f.createNamespace(t, "fleet")

	t0 := time.Now()
	By := func(s string) { t.Logf("%5.1fs %s", time.Since(t0).Seconds(), s) }
	By("a vendor CSV of 1,001 rows: 980 live SIMs, 21 invalid, unknown, forbidden or behind a proxy")
	var csvRows [][]string
	csvRows = append(csvRows, []string{"IMSI", "MSISDN", "Name", "Labels", "Plan"})
	for i := range 980 {
		imsi := fmt.Sprintf("23873%010d", i)
		live := simulator.SIM{IMSI: imsi, Voice: i%2 == 0, SMS: i%3 == 0, Data: i%5 != 0}
		live.DataThrottling = live.Data && i%7 == 0
		msisdn := ""
		if i%4 == 0 {
			msisdn = fmt.Sprintf("4570%06d", i)
			live.MSISDN = msisdn
		}
		f.sim.PutSIM(live)
		name := ""
		if i%10 == 0 {
			name = fmt.Sprintf("tracker-%03d", i)
		}
		labels := "fleet=trackers;site=cph"
		if i%100 == 10 {
			labels += ";tier=gold"
		}
		csvRows = append(csvRows, []string{imsi, msisdn, name, labels, "m2m-basic"})
	}
	for i := range 7 {
		csvRows = append(csvRows, []string{fmt.Sprintf("2387%d", i), "", "", "", ""}) // too short
	}
	for i := range 7 {
		csvRows = append(csvRows, []string{fmt.Sprintf("23879%010d", i), "", "", "", ""}) // not in the API
	}
	for i := range 6 {
		csvRows = append(csvRows, []string{fmt.Sprintf("99900%010d", i), "", "", "", ""}) // another account's
	}
	proxied := "238780000000000" // answered by a bare 404 (a proxy): not known to be absent
	csvRows = append(csvRows, []string{proxied, "", "", "", ""})
	f.sim.SetFaults(simulator.Faults{Only: "/sim/" + proxied, AnswerNext: 1 << 20,
		Answer: simulator.Answer{Status: http.StatusNotFound, Body: "404 page not found"}})
	defer f.sim.SetFaults(simulator.Faults{})
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "vendor.csv")
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.WriteAll(csvRows)
	if err := os.WriteFile(csvPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	By("importing: one GET per row, 980 manifests, 21 rows rejected with why (a bare 404 as failed, not as not found)")
	out := filepath.Join(dir, "fleet")
	before := len(f.sim.Requests())
	_, summary, err := f.run(t, "import", "--csv", csvPath, "--out", out, "-n", "fleet", "--rate", "0")
	if !errors.Is(err, ExitError(1)) {
		t.Fatalf("import with rejected rows: error %v, want exit status 1", err)
	}
	if gets := len(f.sim.Requests()) - before; gets != 994 {
		t.Errorf("%d API calls, want one GET per valid row (994)", gets)
	}
	for _, want := range []string{"imported 980", "invalid 7", "not found 7", "forbidden 6", "failed 1", "rejected.csv"} {
		if !strings.Contains(squash(summary), want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	rejected, err := os.ReadFile(filepath.Join(out, "rejected.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(rejected), "\n"); n != 22 {
		t.Errorf("rejected.csv has %d lines, want a header and 21 rows:\n%s", n, rejected)
	}
	manifests := snapshot(t, out)
	if len(manifests) != 981 {
		t.Fatalf("%d files, want 980 manifests and kustomization.yaml", len(manifests))
	}
	if !strings.Contains(manifests["kustomization.yaml"], "fleet/tracker-000.yaml") {
		t.Error("kustomization.yaml does not list the manifests")
	}

	By("re-running the import over the directory changes no byte")
	if _, _, err := f.run(t, "import", "--csv", csvPath, "--out", out, "-n", "fleet", "--rate", "0"); !errors.Is(err, ExitError(1)) {
		t.Fatal(err)
	}
	if again := snapshot(t, out); !mapsEqual(again, manifests) {
		t.Error("a second import over the same directory wrote different files")
	}

	By("applying the manifests: every SIM Ready with no POST or PUT and at most one GET each")
	mark := len(f.sim.Requests())
	var sims []*v1alpha1.SIM
	for name, data := range manifests {
		if name == "kustomization.yaml" {
			continue
		}
		s, err := readSIMFile(filepath.Join(out, name))
		if err != nil || len(s) != 1 {
			t.Fatalf("%s: %v", name, err)
		}
		u := &unstructured.Unstructured{}
		if err := yamlToUnstructured(data, u); err != nil {
			t.Fatal(err)
		}
		if err := f.c.Patch(ctx, u, client.Apply, client.FieldOwner("kubectl"), client.ForceOwnership); err != nil { //nolint:staticcheck
			t.Fatal(err)
		}
		sims = append(sims, s[0])
	}
	waitFor(t, "980 imported SIMs Ready", func() bool {
		var list v1alpha1.SIMList
		if f.c.List(ctx, &list, client.InNamespace("fleet")) != nil {
			return false
		}
		ready := 0
		for _, s := range list.Items {
			if meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.ConditionReady) {
				ready++
			}
		}
		return ready == 980
	})
	perSIM := map[string]int{}
	for _, r := range f.sim.Requests()[mark:] {
		if r.Method != "GET" {
			t.Errorf("applying the import wrote to the API: %s %s %d", r.Method, r.Path, r.Status)
		}
		perSIM[r.Path]++
	}
	for path, n := range perSIM {
		if n > 1 {
			t.Errorf("%s was read %d times", path, n)
		}
	}

	By("diff: an unchanged manifest is nothing; a changed one names exactly the changed field")
	one := filepath.Join(out, "fleet", "tracker-000.yaml")
	stdout, _, err := f.run(t, "diff", "-f", one)
	if err != nil || !strings.Contains(squash(stdout), "tracker-000 default nothing") {
		t.Errorf("diff of an unchanged manifest: %v\n%s", err, stdout)
	}
	changed := strings.Replace(manifests["fleet/tracker-000.yaml"], "voice: true", "voice: false", 1)
	if changed == manifests["fleet/tracker-000.yaml"] {
		t.Fatal("tracker-000 has no voice: true to change")
	}
	if err := os.WriteFile(one, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, _, err = f.run(t, "diff", "-f", one)
	var exit ExitError
	if !errors.As(err, &exit) || exit != 1 {
		t.Errorf("diff with a change: error %v, want exit 1", err)
	}
	if !strings.Contains(squash(stdout), "tracker-000 default update PUT voice: true → false\n") || strings.Contains(stdout, "sms:") {
		t.Errorf("diff does not name exactly voice:\n%s", stdout)
	}
	bad := strings.Replace(changed, "dataThrottling: false", "dataThrottling: true", 1)
	bad = strings.Replace(bad, "data: true", "data: false", 1)
	if err := os.WriteFile(one, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if stdout, _, _ = f.run(t, "diff", "-f", one); !strings.Contains(stdout, "refused") || !strings.Contains(stdout, "spec.dataThrottling") {
		t.Errorf("diff of a manifest admission refuses:\n%s", stdout)
	}

	By("pause, retry and resume set the annotations the operator honours")
	stdout, _, err = f.run(t, "pause", "tracker-010", "-n", "fleet")
	if err != nil || !strings.Contains(squash(stdout), "fleet tracker-010 pause done") {
		t.Errorf("pause: %v\n%s", err, stdout)
	}
	s := &v1alpha1.SIM{}
	waitFor(t, "tracker-010 paused", func() bool {
		_ = f.c.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "tracker-010"}, s)
		c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionSynced)
		return c != nil && c.Reason == "ReconcilePaused"
	})
	stdout, _, err = f.run(t, "resume", "-l", "tier=gold", "-n", "fleet")
	if err != nil || strings.Count(stdout, " resume ") != 10 {
		t.Errorf("resume -l tier=gold: %v\n%s", err, stdout)
	}
	if _, _, err := f.run(t, "retry", "tracker-010", "-n", "fleet"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "tracker-010 resumed and its retry handled", func() bool {
		_ = f.c.Get(ctx, client.ObjectKey{Namespace: "fleet", Name: "tracker-010"}, s)
		c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionSynced)
		return c != nil && c.Reason == "ReconcileSuccess" && s.Status.LastHandledRequestedAt != "" &&
			s.Status.LastHandledRequestedAt == s.Annotations[v1alpha1.AnnotationRequestedAt]
	})
	if _, paused := s.Annotations[v1alpha1.AnnotationPaused]; paused {
		t.Error("resume left the paused annotation")
	}
}

func TestStatusTable(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	f.createNamespace(t, "ops")
	for _, s := range []*v1alpha1.SIM{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "a"}, Spec: v1alpha1.SIMSpec{IMSI: "238730000000001"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "b"}, Spec: v1alpha1.SIMSpec{IMSI: "238730000000002", SIMSettings: v1alpha1.SIMSettings{SMS: ptr.To(false)}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "c"}, Spec: v1alpha1.SIMSpec{IMSI: "999000000000001"}},
	} {
		if err := f.c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	m := &v1alpha1.SMSMessage{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "hello"},
		Spec: v1alpha1.SMSMessageSpec{To: "+4512345678", From: "Ops", Text: "hi"}}
	if err := f.c.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	// A kind of the current edition on the default (Legacy) account: counted,
	// and its refusal listed under its reason.
	l := &v1alpha1.NetworkList{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "eu"},
		Spec: v1alpha1.NetworkListSpec{Networks: []v1alpha1.NetworkRef{{MCC: "238"}}}}
	if err := f.c.Create(ctx, l); err != nil {
		t.Fatal(err)
	}
	want := `NAMESPACE   ACCOUNT   SIMS   READY   SYNCED   CONNECTORS   NETWORKLISTS   WEBHOOKS   SMS
ops         default   3      2       2        0            1              0          1

NOT READY       COUNT   EXAMPLES
ImsiForbidden   1       ops/c
NotInEdition    1       networklist ops/eu

NOT SYNCED      COUNT   EXAMPLES
ImsiForbidden   1       ops/c
NotInEdition    1       networklist ops/eu

SMS        COUNT   EXAMPLES
Accepted   1       ops/hello
`
	var got string
	for deadline := time.Now().Add(30 * time.Second); got != want && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got, _, _ = f.run(t, "status", "-n", "ops")
	}
	if got != want {
		t.Fatalf("status:\n%s\nwant:\n%s", got, want)
	}
	yamlOut, _, err := f.run(t, "status", "-n", "ops", "-o", "yaml")
	if err != nil || !strings.Contains(yamlOut, "reason: ImsiForbidden") {
		t.Errorf("status -o yaml: %v\n%s", err, yamlOut)
	}
}

// snapshot reads every file under dir, by path relative to it.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "rejected.csv" {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	return !slices.ContainsFunc(keys, func(k string) bool { return a[k] != b[k] })
}

func yamlToUnstructured(data string, u *unstructured.Unstructured) error {
	return yaml.Unmarshal([]byte(data), &u.Object)
}

// squash collapses the runs of spaces a table aligns columns with.
// readSIMFile decodes the SIM manifests of one file.
func readSIMFile(path string) ([]*v1alpha1.SIM, error) {
	objs, err := manifests.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*v1alpha1.SIM
	for _, u := range objs {
		s := &v1alpha1.SIM{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func squash(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

func TestImportThroughAnAccount(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	f.createNamespace(t, "team")
	t.Setenv("ONOMONDO_API_KEY", "") // the key must come from the Account's Secret
	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "onomondo"}, StringData: map[string]string{"apiKey": testutil.APIKey}},
		&v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "acme"}, Spec: v1alpha1.AccountSpec{
			APIURL: f.sim.URL(), CABundle: string(f.sim.CAPEM), APIKeySecretRef: v1alpha1.SecretKeyReference{Name: "onomondo"}}},
	} {
		if err := f.c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	f.sim.PutSIM(simulator.SIM{IMSI: "238730000000777", Voice: true, SMS: false, Data: true})
	csvPath := filepath.Join(t.TempDir(), "one.csv")
	if err := os.WriteFile(csvPath, []byte("imsi\n238730000000777\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs([]string{"import", "--csv", csvPath, "--account", "acme", "-n", "team", "--kubeconfig", f.flags[1]})
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "imsi: \"238730000000777\"") || !strings.Contains(out.String(), "sms: false") {
		t.Errorf("the manifest does not reproduce the SIM:\n%s", out.String())
	}
	if !strings.Contains(squash(out.String()), "accountRef:\nkind: Account\nname: acme") {
		t.Errorf("the manifest does not name the account it was read through:\n%s", out.String())
	}
}

// diff reads manifests as kubectl does (-f FILE|DIR|-, -R, -k), covers
// Connectors, and asks the API through each manifest's own account, refused
// as the operator refuses it.
func TestDiffHonoursEachManifestsAccountAndKubectlHabits(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	f.createNamespace(t, "team")
	f.createNamespace(t, "other")
	other := testutil.Start(t, simulator.Options{APIKey: "other-org-key"})
	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "other-org"}, StringData: map[string]string{"apiKey": "other-org-key"}},
		&v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "other"}, Spec: v1alpha1.AccountSpec{
			APIURL: other.URL(), CABundle: string(other.CAPEM), APIKeySecretRef: v1alpha1.SecretKeyReference{Name: "other-org"}}},
	} {
		if err := f.c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	other.PutSIM(simulator.SIM{IMSI: "238730000000901", Voice: true, SMS: true, Data: true})
	f.sim.PutSIM(simulator.SIM{IMSI: "238730000000902", Voice: true, SMS: true, Data: true})
	api, err := f.sim.Client(onomondo.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.CreateConnector(ctx, "hook", []byte(`{"type":"webhook","url":"https://a.example"}`)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("fleet/other-org.yaml", `apiVersion: onomondo.sim-operator.dev/v1alpha1
kind: SIM
metadata: {name: in-other-org, namespace: team}
spec: {imsi: "238730000000901", voice: false, accountRef: {kind: Account, name: other}}
`)
	write("fleet/deeper/default.yaml", `apiVersion: onomondo.sim-operator.dev/v1alpha1
kind: SIM
metadata: {name: in-default, namespace: team}
spec: {imsi: "238730000000902", voice: true}
`)
	write("fleet/deeper/borrowed.yaml", `apiVersion: onomondo.sim-operator.dev/v1alpha1
kind: SIM
metadata: {name: borrowed, namespace: other}
spec: {imsi: "238730000000903", accountRef: {kind: Account, name: other, namespace: team}}
`)
	write("fleet/deeper/connector.yaml", `apiVersion: onomondo.sim-operator.dev/v1alpha1
kind: Connector
metadata: {name: hook, namespace: team}
spec: {id: hook, config: {type: webhook, url: "https://b.example"}}
`)
	write("fleet/kustomization.yaml", "resources: [other-org.yaml, deeper/default.yaml, deeper/borrowed.yaml, deeper/connector.yaml]\n")

	t.Log("-f DIR -R -o json: every manifest, each through its account")
	stdout, _, err := f.run(t, "diff", "-f", filepath.Join(dir, "fleet"), "-R", "-o", "json")
	if !errors.Is(err, ExitError(1)) {
		t.Fatalf("diff with changes: %v", err)
	}
	var got struct{ Changes []change }
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	want := map[string]string{
		"SIM team/in-other-org": "Account/team/other adopt then PUT voice: true → false",
		"SIM team/in-default":   "default adopt ",
		"SIM other/borrowed":    "Account/team/other refused AccountNotAllowed: Account team/other serves only namespace team",
		"Connector team/hook":   "default adopt then PUT config:",
	}
	for _, c := range got.Changes {
		line := c.Account + " " + c.Action + " " + c.Detail
		w, ok := want[c.Kind+" "+c.Namespace+"/"+c.Name]
		if !ok || !strings.HasPrefix(line, w) {
			t.Errorf("%s %s/%s: %q, want %q", c.Kind, c.Namespace, c.Name, line, w)
		}
		delete(want, c.Kind+" "+c.Namespace+"/"+c.Name)
	}
	if len(want) > 0 {
		t.Errorf("not reported: %v", want)
	}
	if n := len(other.Requests()); n != 1 {
		t.Errorf("the other organisation saw %d requests, want the one GET of its SIM", n)
	}

	t.Log("-k: the kustomization, the same four")
	stdout, _, _ = f.run(t, "diff", "-k", filepath.Join(dir, "fleet"), "-o", "yaml")
	if strings.Count(stdout, "action:") != 4 {
		t.Errorf("-k read %d manifests, want 4:\n%s", strings.Count(stdout, "action:"), stdout)
	}

	t.Log("-f -: from stdin")
	r, w, _ := os.Pipe()
	stdin := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = stdin }()
	data, _ := os.ReadFile(filepath.Join(dir, "fleet", "deeper", "default.yaml"))
	_, _ = w.Write(data)
	_ = w.Close()
	stdout, _, err = f.run(t, "diff", "-f", "-")
	if !errors.Is(err, ExitError(1)) || !strings.Contains(squash(stdout), "SIM team in-default default adopt") {
		t.Errorf("diff -f -: %v\n%s", err, stdout)
	}
}

// Every command shows an example in its help, and version prints the one
// version source.
func TestEveryCommandHasAnExampleAndVersionPrints(t *testing.T) {
	var out bytes.Buffer
	root := NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	for _, cmd := range append(root.Commands(), root) {
		if cmd.Name() != "help" && cmd.Name() != "completion" && strings.TrimSpace(cmd.Example) == "" {
			t.Errorf("kubectl sim %s has no Example", cmd.Name())
		}
	}
	root.SetArgs([]string{"version", "-o", "json"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	var v struct{ Version, Revision, GoVersion string }
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.Version == "" || v.GoVersion == "" {
		t.Fatalf("version -o json: %v %q", err, out.String())
	}
}

// import --account on a Current account lists the SIMs from the API (one
// call per 1,000) and writes observe-first, Orphan manifests by SIM ID
// naming the account, with every setting as the API reports it.
func TestImportListsACurrentAccountsSIMs(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	f.createNamespace(t, "fleet-current")
	org := testutil.Start(t, simulator.Options{APIKey: "current-key"})
	for i := range 1500 {
		org.PutCurrentSIM(simulator.CurrentSIM{ICCID: fmt.Sprintf("8945738730%09d1", i+1), Activated: i%2 == 0, Label: ptr.To(fmt.Sprintf("unit %d", i))})
	}
	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet-current", Name: "key"}, StringData: map[string]string{"apiKey": "current-key"}},
		&v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet-current", Name: "cur"}, Spec: v1alpha1.AccountSpec{
			APIURL: org.URL(), CABundle: string(org.CAPEM), Edition: v1alpha1.EditionCurrent, APIKeySecretRef: v1alpha1.SecretKeyReference{Name: "key"}}},
	} {
		if err := f.c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "fleet")
	var stdout, errOut bytes.Buffer
	cmd := NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &stdout, ErrOut: &errOut})
	cmd.SetArgs([]string{"import", "--account", "cur", "-n", "fleet-current", "--out", out, "--rate", "0", "--kubeconfig", f.flags[1]})
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if n := len(org.Requests()); n != 2 {
		t.Errorf("%d API calls, want 2 (1,500 SIMs, 1,000 a page)", n)
	}
	files := snapshot(t, out)
	if len(files) != 1501 {
		t.Fatalf("%d files, want 1,500 manifests and kustomization.yaml", len(files))
	}
	m := squash(files["fleet-current/sim-000000001.yaml"])
	for _, want := range []string{`simId: "000000001"`, "accountRef:\nkind: Account\nname: cur", "deletionPolicy: Orphan",
		"onomondo.sim-operator.dev/observe-first: \"true\"", "label: unit 0", "activated: true"} {
		if !strings.Contains(m, want) {
			t.Errorf("the manifest lacks %q:\n%s", want, m)
		}
	}
	diff, _, _ := f.run(t, "diff", "-f", filepath.Join(out, "fleet-current", "sim-000000001.yaml"))
	if !strings.Contains(squash(diff), "SIM fleet-current sim-000000001 Account/fleet-current/cur adopt") || strings.Contains(diff, "PATCH") {
		t.Errorf("diff of an imported manifest: want adopt with nothing to change:\n%s", diff)
	}
}
