// Package sandbox runs the whole operator on one machine with nothing else:
// a local etcd + kube-apiserver (the envtest assets), the CRDs and their
// finalizer policy, the simulator over TLS, and the manager built exactly as main.go builds it.
// `make sandbox`, its test and the benchmarks use it.
package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/admission"
	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/manifests"
	"github.com/sim-operator/sim-operator/internal/simulator"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

// Names the sandbox uses.
const (
	APIKey          = "sandbox-key"
	OperatorNS      = "sim-operator-system"
	APIKeySecret    = "onomondo-api-key"
	kubeconfigFile  = "kubeconfig"
	simulatorFile   = "simulator.json"
	simulatorCAFile = "simulator-ca.pem"
)

// Options configure a sandbox.
type Options struct {
	// RepoRoot holds config/crd/bases.
	RepoRoot string
	// StateDir receives kubeconfig, simulator.json and the simulator's CA.
	StateDir string
	// Operator tunes the manager; the API URL, CA and key are filled in.
	Operator app.Options
	// NoManager starts the control plane and simulator only.
	NoManager bool
}

// OrgKeys are the keys of the other organisations the simulator serves
// (config/samples/accounts): each has its own SIM table.
var OrgKeys = []string{"acme-sandbox-key", "globex-sandbox-key", CurrentOrgKey}

// CurrentOrgKey is the key of the demo's organisation on Onomondo's current
// API (config/samples/current), whose SIM cards exist before any resource.
const CurrentOrgKey = "initech-sandbox-key"

// SimulatorInfo is written to simulator.json.
type SimulatorInfo struct {
	URL    string `json:"url"`
	APIKey string `json:"apiKey"`
	CAFile string `json:"caFile"`
}

// Sandbox is a running control plane, simulator and manager.
type Sandbox struct {
	Env        *envtest.Environment
	Config     *rest.Config
	Client     client.Client
	Sim        *testutil.SimServer
	Kubeconfig string
	SimInfo    SimulatorInfo
	cancel     context.CancelFunc
	done       chan error
	stopOnce   sync.Once
}

// Start brings everything up. Stop tears it down.
func Start(ctx context.Context, o Options) (sb *Sandbox, err error) {
	sb = &Sandbox{done: make(chan error, 1)}
	defer func() {
		if err != nil {
			sb.Stop()
		}
	}()
	if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
		return nil, err
	}
	sb.Env = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(o.RepoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	if sb.Config, err = sb.Env.Start(); err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd (is KUBEBUILDER_ASSETS set? `make sandbox` sets it): %w", err)
	}
	if sb.Client, err = client.New(sb.Config, client.Options{Scheme: app.Scheme}); err != nil {
		return nil, err
	}
	// The finalizer policy install.yaml and the chart bring with the CRDs.
	if err := admission.Install(ctx, sb.Client, filepath.Join(o.RepoRoot, admission.Dir)); err != nil {
		return nil, err
	}
	if err := sb.writeKubeconfig(o.StateDir); err != nil {
		return nil, err
	}
	// The default inventory accepts every IMSI in config/samples and rejects
	// the documented test ranges (999…, 000…).
	if sb.Sim, err = testutil.StartSimulator(simulator.Options{APIKey: APIKey}, OrgKeys...); err != nil {
		return nil, err
	}
	seedCurrentOrg(sb.Sim.Orgs[CurrentOrgKey])
	sb.SimInfo = SimulatorInfo{URL: sb.Sim.URL(), APIKey: APIKey, CAFile: filepath.Join(o.StateDir, simulatorCAFile)}
	if err := os.WriteFile(sb.SimInfo.CAFile, sb.Sim.CAPEM, 0o644); err != nil {
		return nil, err
	}
	info, _ := json.MarshalIndent(sb.SimInfo, "", "  ")
	if err := os.WriteFile(filepath.Join(o.StateDir, simulatorFile), append(info, '\n'), 0o644); err != nil {
		return nil, err
	}
	if o.NoManager {
		return sb, nil
	}
	return sb, sb.startManager(ctx, o.Operator)
}

// seedCurrentOrg puts the cards of the current edition's demo in its
// organisation: SIMs exist there before any resource names them.
func seedCurrentOrg(org *simulator.Simulator) {
	org.PutTag(simulator.Tag{ID: "5b0c1c2e-0000-4000-8000-000000000001", Name: "fleet-eu", CanWrite: true})
	// The list exists already (made in the Onomondo app): the NetworkList
	// resource adopts it, and the SIM that names it can use it at once.
	org.PutNetworkList(simulator.NetworkList{Name: "nordics", Networks: []map[string]any{{"mcc": "238", "mnc": "01"}}})
	for i, label := range []string{"forklift 1", "forklift 2", "spare"} {
		org.PutCurrentSIM(simulator.CurrentSIM{ICCID: fmt.Sprintf("894573873000000%04d%d", 240+i, i), Label: &label, Activated: i < 2,
			MSISDN: fmt.Sprintf("457200000%d", i)})
	}
}

func (sb *Sandbox) writeKubeconfig(dir string) error {
	user, err := sb.Env.AddUser(envtest.User{Name: "sandbox-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	sb.Kubeconfig = filepath.Join(dir, kubeconfigFile)
	return os.WriteFile(sb.Kubeconfig, kc, 0o600)
}

// startManager stores the API key in a Secret, as a real install does, and
// runs the manager reading it from there.
func (sb *Sandbox) startManager(ctx context.Context, o app.Options) error {
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: OperatorNS}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: OperatorNS, Name: APIKeySecret},
			StringData: map[string]string{"apiKey": APIKey}},
	} {
		if err := sb.Client.Create(ctx, obj); err != nil {
			return err
		}
	}
	o.APIURL, o.APICAFile = sb.SimInfo.URL, sb.SimInfo.CAFile
	o.APIKeySecret, o.APIKey = OperatorNS+"/"+APIKeySecret, ""
	mgr, err := app.NewManager(sb.Config, o)
	if err != nil {
		return err
	}
	mctx, cancel := context.WithCancel(ctx)
	sb.cancel = cancel
	go func() { sb.done <- mgr.Start(mctx) }()
	return nil
}

// Stop stops the manager, the simulator and the control plane. It may be called more than once.
func (sb *Sandbox) Stop() { sb.stopOnce.Do(sb.stop) }

func (sb *Sandbox) stop() {
	if sb.cancel != nil {
		sb.cancel()
		<-sb.done
	}
	if sb.Sim != nil {
		sb.Sim.Close()
	}
	if sb.Env != nil && sb.Config != nil {
		_ = sb.Env.Stop()
	}
}

// ApplySamples creates every object in the YAML files of dir (not
// recursive). Accounts are pointed at the sandbox's simulator.
func (sb *Sandbox) ApplySamples(ctx context.Context, dir string) ([]*unstructured.Unstructured, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		objs, err := manifests.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			if obj.GetKind() == "Account" {
				_ = unstructured.SetNestedField(obj.Object, sb.Sim.URL(), "spec", "apiURL")
				_ = unstructured.SetNestedField(obj.Object, string(sb.Sim.CAPEM), "spec", "caBundle")
			}
			if err := sb.Client.Create(ctx, obj); err != nil {
				return nil, fmt.Errorf("%s: %s %s: %w", f, obj.GetKind(), obj.GetName(), err)
			}
			out = append(out, obj)
		}
	}
	return out, nil
}

// WaitReady waits until every object has its kind's success condition
// (SIM: Ready=True), or the context ends.
func (sb *Sandbox) WaitReady(ctx context.Context, objs []*unstructured.Unstructured) error {
	for {
		pending := ""
		for _, obj := range objs {
			ok, err := sb.ready(ctx, obj)
			if err != nil {
				return err
			}
			if !ok {
				pending = obj.GetKind() + " " + obj.GetNamespace() + "/" + obj.GetName()
				break
			}
		}
		if pending == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not ready: %w", pending, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// successCondition is the condition that says an object of a kind is done.
var successCondition = map[string]string{
	"SIM": v1alpha1.ConditionReady, "Connector": v1alpha1.ConditionReady, "SMSMessage": v1alpha1.ConditionSent,
	"NetworkList": v1alpha1.ConditionReady, "Webhook": v1alpha1.ConditionReady,
}

func (sb *Sandbox) ready(ctx context.Context, obj *unstructured.Unstructured) (bool, error) {
	cond, ok := successCondition[obj.GetKind()]
	if !ok {
		return true, nil
	}
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(obj.GroupVersionKind())
	if err := sb.Client.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return false, err
	}
	var status struct {
		Conditions []metav1.Condition `json:"conditions"`
	}
	raw, _ := json.Marshal(live.Object["status"])
	_ = json.Unmarshal(raw, &status)
	// Settled: done, or refused its account (the accounts demo shows one).
	refused := meta.FindStatusCondition(status.Conditions, v1alpha1.ConditionSynced)
	return meta.IsStatusConditionTrue(status.Conditions, cond) ||
		(refused != nil && refused.Reason == "AccountNotAllowed"), nil
}

// readyColumns are the READY and REASON columns: the Ready condition's status and reason.
func readyColumns(conds []metav1.Condition) (string, string) {
	if c := meta.FindStatusCondition(conds, v1alpha1.ConditionReady); c != nil {
		return string(c.Status), c.Reason
	}
	return "", ""
}

// PrintSIMs writes what `kubectl get sims -A` shows.
func (sb *Sandbox) PrintSIMs(ctx context.Context, w io.Writer) error {
	var list v1alpha1.SIMList
	if err := sb.Client.List(ctx, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tIMSI\tMSISDN\tVOICE\tSMS\tDATA\tTHROTTLED\tREADY\tREASON\tAGE")
	for _, s := range list.Items {
		ready, reason := readyColumns(s.Status.Conditions)
		var b v1alpha1.SIMBinding
		var o v1alpha1.SIMSettings
		if s.Status.Binding != nil {
			b = *s.Status.Binding
		}
		if s.Status.AtProvider != nil {
			o = s.Status.AtProvider.SIMSettings
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Namespace, s.Name, b.IMSI, b.MSISDN,
			boolColumn(o.Voice), boolColumn(o.SMS), boolColumn(o.Data), boolColumn(o.DataThrottling), ready, reason,
			duration.HumanDuration(time.Since(s.CreationTimestamp.Time)))
	}
	return tw.Flush()
}

// boolColumn prints an observed setting as kubectl does: empty when unknown.
func boolColumn(v *bool) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(*v)
}

// PrintSMS writes what `kubectl get sms -A` shows.
func (sb *Sandbox) PrintSMS(ctx context.Context, w io.Writer) error {
	var list v1alpha1.SMSMessageList
	if err := sb.Client.List(ctx, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tTO\tFROM\tSTATUS\tSENT-AT\tAGE")
	for _, m := range list.Items {
		status, sentAt := "", ""
		if c := meta.FindStatusCondition(m.Status.Conditions, v1alpha1.ConditionSent); c != nil {
			status = c.Reason
		}
		if m.Status.SentAt != nil {
			sentAt = m.Status.SentAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Namespace, m.Name, m.Status.Recipient, m.Spec.From,
			status, sentAt, duration.HumanDuration(time.Since(m.CreationTimestamp.Time)))
	}
	return tw.Flush()
}

// PrintConnectors writes what `kubectl get connectors -A` shows.
func (sb *Sandbox) PrintConnectors(ctx context.Context, w io.Writer) error {
	var list v1alpha1.ConnectorList
	if err := sb.Client.List(ctx, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tID\tREADY\tREASON\tAGE")
	for _, c := range list.Items {
		ready, reason := readyColumns(c.Status.Conditions)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Namespace, c.Name, c.Spec.ID, ready, reason,
			duration.HumanDuration(time.Since(c.CreationTimestamp.Time)))
	}
	return tw.Flush()
}

// PrintAPICalls writes the simulator's request log.
// PrintOrgAPICalls writes the calls each other organisation received.
func (sb *Sandbox) PrintOrgAPICalls(w io.Writer) {
	for _, key := range OrgKeys {
		if key != CurrentOrgKey {
			sb.PrintOrgCalls(w, key)
		}
	}
}

// PrintOrgCalls prints the API calls one organisation received.
func (sb *Sandbox) PrintOrgCalls(w io.Writer, key string) {
	fmt.Fprintf(w, "organisation %s:\n", key)
	for _, r := range sb.Sim.Orgs[key].Requests() {
		fmt.Fprintf(w, "  %s %s → %d\n", r.Method, r.Path, r.Status)
	}
}

// PrintCurrentSIMs prints the SIMs of a namespace on the current API, as
// kubectl get sims shows their binding and settings.
func (sb *Sandbox) PrintCurrentSIMs(ctx context.Context, w io.Writer, namespace string) error {
	var list v1alpha1.SIMList
	if err := sb.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tSIM ID\tICCID\tACTIVATED\tLABEL\tNETWORK LIST\tTAGS\tREADY\tREASON")
	for _, s := range list.Items {
		ready, reason := readyColumns(s.Status.Conditions)
		var b v1alpha1.SIMBinding
		var o v1alpha1.CurrentSettings
		if s.Status.Binding != nil {
			b = *s.Status.Binding
		}
		if s.Status.AtProvider != nil {
			o = s.Status.AtProvider.CurrentSettings
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Namespace, s.Name, b.SIMID, b.ICCID,
			boolColumn(o.Activated), str(o.Label), str(o.NetworkList), strings.Join(o.Tags, ","), ready, reason)
	}
	return tw.Flush()
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (sb *Sandbox) PrintAPICalls(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "TIME\tMETHOD\tPATH\tSTATUS")
	reqs := sb.Sim.Requests()
	slices.SortStableFunc(reqs, func(a, b simulator.Request) int { return a.Time.Compare(b.Time) })
	for _, r := range reqs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", r.Time.Format("15:04:05.000"), r.Method, r.Path, r.Status)
	}
	_ = tw.Flush()
}

// Instructions says how to use the running sandbox.
func (sb *Sandbox) Instructions() string {
	rel := func(p string) string {
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
				return r
			}
		}
		return p
	}
	kc := rel(sb.Kubeconfig)
	return fmt.Sprintf(`The operator is running against a local kube-apiserver and the Onomondo API simulator.

  kubectl --kubeconfig %[1]s get sims
  kubectl --kubeconfig %[1]s get sms
  kubectl --kubeconfig %[1]s get conn
  kubectl --kubeconfig %[1]s describe sim tracker-0001
  kubectl --kubeconfig %[1]s apply -f config/samples/errors/     # SIMs the API rejects
  curl -s --cacert %[2]s -H 'Authorization: %[3]s' %[4]s/_simulator/requests
  curl -s --cacert %[2]s -H 'Authorization: %[3]s' %[4]s/sim/238731234567890

Simulator: %[5]s (url, apiKey, caFile). IMSIs starting 999 answer 403 imsi_forbidden,
IMSIs starting 000 answer 404 imsi_not_found; every other valid IMSI can be created.
Press Ctrl-C to stop and clean up.
`, kc, rel(sb.SimInfo.CAFile), sb.SimInfo.APIKey, sb.SimInfo.URL, rel(filepath.Join(filepath.Dir(sb.Kubeconfig), simulatorFile)))
}
