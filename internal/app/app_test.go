package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
	"unsafe"

	"k8s.io/apimachinery/pkg/labels"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sim-operator/sim-operator/api/v1alpha1"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"k8s.io/client-go/rest"
)

// Start-up errors name what to fix.
func TestStartupErrors(t *testing.T) {
	badCA := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(badCA, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no key", func(o *Options) { o.APIKey = "" }, "--api-key-secret"},
		{"plain http", func(o *Options) { o.APIURL = "http://127.0.0.1:8443" }, "plain http"},
		{"unreadable CA", func(o *Options) { o.APICAFile = "/nonexistent/ca.pem" }, "CA file"},
		{"CA without certificates", func(o *Options) { o.APICAFile = badCA }, "no PEM certificate"},
		{"bad secret reference", func(o *Options) { o.APIKeySecret = "ns/" }, "NAMESPACE/NAME"},
		{"a bare secret name without the pod's namespace", func(o *Options) { o.APIKeySecret = "just-a-name" }, "POD_NAMESPACE"},
		{"no event rate", func(o *Options) { o.EventQPS = 0 }, "--event-qps"},
		{"no event queue", func(o *Options) { o.EventQueueSize = 0 }, "--event-queue-size"},
	}
	t.Setenv(PodNamespaceEnv, "")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			o.APIKey = "k"
			tc.change(&o)
			_, err := NewManager(&rest.Config{Host: "https://127.0.0.1:1"}, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestABareSecretNameIsInThePodsNamespace(t *testing.T) {
	t.Setenv(PodNamespaceEnv, "ops")
	o := DefaultOptions()
	o.APIKeySecret = "onomondo-api-key"
	ref, err := o.secretRef()
	if err != nil || ref.String() != "ops/onomondo-api-key" {
		t.Fatalf("secretRef = %v, %v; want ops/onomondo-api-key", ref, err)
	}
	o.APIKeySecret = "other/key"
	if ref, err := o.secretRef(); err != nil || ref.String() != "other/key" {
		t.Fatalf("secretRef = %v, %v; want other/key", ref, err)
	}
}

func TestTheDefaultAccountServesTheNamespacesTheInstallerNames(t *testing.T) {
	ns := func(name string) labels.Set { return labels.Set{AllNamespaces: name, "team": name} }
	for _, tc := range []struct {
		selector string
		watch    []string
		allowed  []string
		refused  []string
	}{
		{"", nil, nil, []string{"default", "team-a"}},
		{"", []string{"team-a", "team-b"}, []string{"team-a", "team-b"}, []string{"default"}},
		{"team in (team-b)", []string{"team-a", "team-b"}, []string{"team-b"}, []string{"team-a"}},
		{AllNamespaces, nil, []string{"default", "team-a"}, nil},
	} {
		o := DefaultOptions()
		o.DefaultAccountNamespaceSelector, o.WatchNamespaces = tc.selector, tc.watch
		sel, err := o.defaultAccountNamespaces()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range tc.allowed {
			if !sel.Matches(ns(n)) {
				t.Errorf("selector %q, watching %v: %s refused", tc.selector, tc.watch, n)
			}
		}
		for _, n := range tc.refused {
			if sel.Matches(ns(n)) {
				t.Errorf("selector %q, watching %v: %s allowed", tc.selector, tc.watch, n)
			}
		}
	}
	o := DefaultOptions()
	o.DefaultAccountNamespaceSelector = "in (("
	if _, err := o.defaultAccountNamespaces(); err == nil || !strings.Contains(err.Error(), "--default-account-namespace-selector") {
		t.Errorf("a bad selector: %v", err)
	}
}

func TestEachShardElectsItsOwnLeader(t *testing.T) {
	o := DefaultOptions()
	unsharded := o.leaderElectionID()
	o.WatchLabelSelector = ShardLabel + " in (shard1)"
	one := o.leaderElectionID()
	o.WatchLabelSelector = ShardLabel + " in (shard2)"
	two := o.leaderElectionID()
	if unsharded == one || one == two || len(one) > 63 {
		t.Errorf("Lease names %q, %q, %q: want one per shard, each a valid name", unsharded, one, two)
	}
	o.LeaderElectionID = "mine"
	if o.leaderElectionID() != "mine" {
		t.Error("--leader-election-id is not honoured")
	}
}

func TestBuildInfoIsExported(t *testing.T) {
	if err := registerBuildInfo(); err != nil {
		t.Fatal(err)
	}
	if err := registerBuildInfo(); err != nil {
		t.Fatalf("a second manager in the process: %v", err)
	}
	b := Build()
	want := fmt.Sprintf(`
# HELP sim_operator_build_info The running build: always 1, with its version, git revision and Go version as labels.
# TYPE sim_operator_build_info gauge
sim_operator_build_info{goversion=%q,revision=%q,version=%q} 1
`, b.GoVersion, b.Revision, b.Version)
	if err := testutil.GatherAndCompare(metrics.Registry, strings.NewReader(want), "sim_operator_build_info"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), b.Version) || !strings.Contains(b.String(), b.GoVersion) {
		t.Fatalf("--version prints %q", b)
	}
}

func TestTheCacheDropsWhatNoControllerReads(t *testing.T) {
	s := &v1alpha1.SIM{}
	s.SetAnnotations(map[string]string{lastApplied: `{"apiVersion":"onomondo.sim-operator.dev/v1alpha1","kind":"SIM"}`, "team": "iot"})
	s.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "kubectl"}})
	out, err := stripUnread(s)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*v1alpha1.SIM)
	if _, kept := got.Annotations[lastApplied]; kept || got.Annotations["team"] != "iot" || len(got.ManagedFields) != 0 {
		t.Fatalf("annotations %v, managed fields %v: want only the last-applied copy and managed fields gone", got.Annotations, got.ManagedFields)
	}
}

func TestTheCacheKeepsNoEmptyAnnotationsAndSharesConditionStrings(t *testing.T) {
	cached := func(reason string) *v1alpha1.SIM {
		s := &v1alpha1.SIM{}
		s.SetAnnotations(map[string]string{lastApplied: "{}"})
		s.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: "True", Reason: strings.Clone(reason), Message: "the SIM in the API matches the spec"}}
		out, err := stripUnread(s)
		if err != nil {
			t.Fatal(err)
		}
		return out.(*v1alpha1.SIM)
	}
	a, b := cached("Available"), cached("Available")
	if a.Annotations != nil {
		t.Errorf("annotations %#v, want nil once the last-applied copy is gone", a.Annotations)
	}
	if unsafe.StringData(a.Status.Conditions[0].Reason) != unsafe.StringData(b.Status.Conditions[0].Reason) {
		t.Error("two cached SIMs hold separate copies of the same condition reason")
	}
	if a.Status.Conditions[0].Reason != "Available" {
		t.Errorf("reason %q", a.Status.Conditions[0].Reason)
	}
}

func TestTheCacheHoldsEachIdentifierAndTheTypeOnce(t *testing.T) {
	cached := func() *v1alpha1.SIM {
		s := &v1alpha1.SIM{TypeMeta: metav1.TypeMeta{APIVersion: strings.Clone("onomondo.sim-operator.dev/v1alpha1"), Kind: strings.Clone("SIM")}}
		s.Spec.IMSI = strings.Clone("238730000000001")
		s.Status.Binding = &v1alpha1.SIMBinding{IMSI: strings.Clone(s.Spec.IMSI)}
		s.Status.AtProvider = &v1alpha1.SIMObservation{IMSI: strings.Clone(s.Spec.IMSI), MSISDN: "4530000001"}
		out, err := stripUnread(s)
		if err != nil {
			t.Fatal(err)
		}
		return out.(*v1alpha1.SIM)
	}
	a, b := cached(), cached()
	if p := unsafe.StringData(a.Spec.IMSI); unsafe.StringData(a.Status.Binding.IMSI) != p || unsafe.StringData(a.Status.AtProvider.IMSI) != p {
		t.Error("the binding and the observation hold their own copies of the spec's IMSI")
	}
	if unsafe.StringData(a.APIVersion) != unsafe.StringData(b.APIVersion) || unsafe.StringData(a.Kind) != unsafe.StringData(b.Kind) {
		t.Error("two cached SIMs hold separate copies of their apiVersion and kind")
	}
	if a.Status.AtProvider.IMSI != "238730000000001" || a.Kind != "SIM" {
		t.Errorf("the transform changed values: %+v", a)
	}
}

func TestTheGoMemoryLimitIsNineTenthsOfTheContainers(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv(MemoryLimitEnv, "268435456") // 256Mi
	got, err := setMemoryLimit()
	if err != nil || got != 241591910 || debug.SetMemoryLimit(-1) != got {
		t.Fatalf("limit %d, %v; want 90%% of 256Mi set in the runtime", got, err)
	}
	t.Setenv("GOMEMLIMIT", "100MiB")
	if got, _ := setMemoryLimit(); got != 0 {
		t.Errorf("an explicit $GOMEMLIMIT was overridden with %d", got)
	}
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv(MemoryLimitEnv, "lots")
	if _, err := setMemoryLimit(); err == nil || !strings.Contains(err.Error(), MemoryLimitEnv) {
		t.Errorf("a malformed limit: %v, want an error naming $%s", err, MemoryLimitEnv)
	}
}

func TestTheCollectorTargetsHalfTheLiveHeapUnlessGOGCSaysOtherwise(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	if got := setGCPercent(); got != 50 || debug.SetGCPercent(100) != 50 {
		t.Errorf("GOGC unset: percent %d, want 50 in force", got)
	}
	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200) // as the runtime read it at start
	if got := setGCPercent(); got != 200 || debug.SetGCPercent(200) != 200 {
		t.Errorf("GOGC=200: percent %d, want it kept", got)
	}
}

type runnables []manager.Runnable

func (r *runnables) Add(x manager.Runnable) error { *r = append(*r, x); return nil }

// While the caches fill the collector runs at startupGCPercent; once they
// have synced, at the manager's percent. A $GOGC set by hand is left alone.
func TestTheCollectorIsRelaxedOnlyUntilTheCachesHaveSynced(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	var added runnables
	synced := make(chan struct{})
	if err := relaxGCUntilSynced(&added, func(context.Context) bool { <-synced; return true }, defaultGCPercent); err != nil {
		t.Fatal(err)
	}
	if p := debug.SetGCPercent(-1); p != startupGCPercent {
		t.Fatalf("while the caches fill the collector runs at %d, want %d", p, startupGCPercent)
	}
	debug.SetGCPercent(startupGCPercent)
	if len(added) != 1 || added[0].(manager.LeaderElectionRunnable).NeedLeaderElection() {
		t.Fatalf("added %v, want one runnable that needs no leader", added)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- added[0].Start(ctx) }()
	close(synced)
	deadline := time.Now().Add(10 * time.Second)
	for p := debug.SetGCPercent(-1); p != defaultGCPercent; p = debug.SetGCPercent(-1) { // this test's heap is small
		debug.SetGCPercent(p)
		if time.Now().After(deadline) {
			t.Fatalf("once synced the collector runs at %d, want %d", p, defaultGCPercent)
		}
		time.Sleep(10 * time.Millisecond)
	}
	debug.SetGCPercent(defaultGCPercent)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	t.Setenv("GOGC", "80")
	debug.SetGCPercent(80)
	added = nil
	if err := relaxGCUntilSynced(&added, nil, defaultGCPercent); err != nil || len(added) != 0 || debug.SetGCPercent(80) != 80 {
		t.Fatalf("with $GOGC set: added %v (%v), want nothing changed", added, err)
	}
}

// Once the live heap is large, the collector's target keeps its growth
// between collections within maxGCHeadroom, down to minGCPercent.
func TestALargeHeapGrowsByAtMostTheHeadroom(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 50},         // nothing measured yet
		{25 * mib, 50},  // 10,000 SIMs: half is 12.5 MiB
		{48 * mib, 50},  // half is exactly the headroom
		{64 * mib, 37},  // 50,000 SIMs: 24 MiB is 37%
		{96 * mib, 25},  // a quarter
		{400 * mib, 25}, // never below minGCPercent
	} {
		if got := gcPercentFor(c.live, defaultGCPercent); got != c.want {
			t.Errorf("live heap %d MiB: GOGC %d, want %d", c.live/mib, got, c.want)
		}
		if got := gcPercentFor(c.live, defaultGCPercent); c.live > 0 && uint64(got)*c.live > 100*maxGCHeadroom && got > minGCPercent {
			t.Errorf("live heap %d MiB: GOGC %d lets it grow past the headroom", c.live/mib, got)
		}
	}
}
