package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/simulator"
)

// kubectl sim diff and the operator agree: for each row of the decision
// table a manifest can reach, what diff says the operator would do is what
// the running operator then does with the same manifest, judged from the
// API's request log and the resource's status, not from the plugin's code.
func TestDiffAndTheOperatorAgree(t *testing.T) {
	f := start(t)
	ctx := context.Background()
	f.createNamespace(t, "agree")
	f.createNamespace(t, "elsewhere")
	for _, obj := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "elsewhere", Name: "key"}, StringData: map[string]string{"apiKey": "k"}},
		&v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: "elsewhere", Name: "theirs"}, Spec: v1alpha1.AccountSpec{
			APIURL: f.sim.URL(), CABundle: string(f.sim.CAPEM), APIKeySecretRef: v1alpha1.SecretKeyReference{Name: "key"}}},
	} {
		if err := f.c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	imsi := func(n int) string { return fmt.Sprintf("2387300000009%02d", n) }
	// sim is a manifest; meta and spec add to its metadata and spec.
	sim := func(name string, n int, meta, spec string) string {
		return fmt.Sprintf("apiVersion: onomondo.sim-operator.dev/v1alpha1\nkind: SIM\nmetadata: {name: %s, namespace: agree%s}\nspec: {imsi: %q, voice: true%s}\n",
			name, meta, imsi(n), spec)
	}
	for _, n := range []int{2, 3, 9} {
		f.sim.PutSIM(simulator.SIM{IMSI: imsi(n), Voice: n != 3, SMS: true, Data: true})
	}
	f.sim.SetFaults(simulator.Faults{Only: "/sim/" + imsi(8), AnswerNext: 1 << 20,
		Answer: simulator.Answer{Status: http.StatusNotFound, Body: "404 page not found"}}) // a bare 404: no API code
	for name, n := range map[string]int{"bound": 4, "holder": 6} {
		f.apply(t, sim(name, n, "", ""))
		f.settled(t, sim(name, n, "", ""))
	}
	connector := func(name, url string) string {
		return fmt.Sprintf("apiVersion: onomondo.sim-operator.dev/v1alpha1\nkind: Connector\nmetadata: {name: %s, namespace: agree}\nspec: {id: %s, config: {type: webhook, url: %q}}\n", name, name, url)
	}
	f.sim.PutConnector("existing", map[string]any{"type": "webhook", "url": "https://old.example"})

	for _, row := range []struct {
		name, manifest, want string
	}{
		{"a SIM the API lacks is created", sim("new", 1, "", ""), "create"},
		{"a SIM the API has as the spec says is adopted", sim("matching", 2, "", ""), "adopt"},
		{"a SIM the API has otherwise is adopted and then written", sim("differing", 3, "", ""), "adopt"},
		{"a bound SIM whose spec changed is updated", sim("bound", 4, "", ", sms: false"), "update"},
		{"a bound SIM as the spec says: nothing", sim("bound", 4, "", ", sms: false"), "nothing"},
		{"a paused SIM: no call", sim("paused", 5, ", annotations: {onomondo.sim-operator.dev/paused: \"true\"}", ""), "paused"},
		{"a SIM another resource holds is a duplicate", sim("twin", 6, "", ""), "refused DuplicateSIM"},
		{"an account the namespace may not use is refused", sim("borrowed", 7, "", ", accountRef: {kind: Account, name: theirs, namespace: elsewhere}"), "refused AccountNotAllowed"},
		{"a bare 404 decides nothing", sim("proxied", 8, "", ""), "unknown"},
		{"observe-only reads and never writes", sim("watched", 9, "", ", managementPolicy: ObserveOnly"), "observe"},
		{"a Connector the API lacks is created", connector("hooks", "https://a.example"), "create"},
		{"a bound Connector whose config changed is updated", connector("hooks", "https://b.example"), "update"},
		{"a bound Connector as the spec says: nothing", connector("hooks", "https://b.example"), "nothing"},
		{"a Connector the API has otherwise is adopted and then written", connector("existing", "https://new.example"), "adopt"},
	} {
		t.Run(row.name, func(t *testing.T) {
			said := f.diffAction(t, row.manifest)
			if !strings.HasPrefix(said, row.want) {
				t.Fatalf("diff said %q, want %q", said, row.want)
			}
			before := f.live(t, row.manifest)
			bound := false
			if before != nil {
				_, st := before.Managed()
				bound = st.Claim != "" // it holds its claim: it was bound
			}
			from := len(f.sim.Requests())
			f.apply(t, row.manifest)
			f.settled(t, row.manifest)
			if did := f.operatorAction(t, row.manifest, bound, from); !strings.HasPrefix(said, did) {
				t.Errorf("diff said %q; the operator did %q", said, did)
			}
		})
	}
}

// managed is a SIM or Connector as the test handles both.
type managed interface {
	client.Object
	Managed() (*v1alpha1.ManagedPolicies, *v1alpha1.ManagedStatus)
}

// decode is the manifest's object (a SIM or a Connector) and the API path
// the operator calls about it.
func decode(t *testing.T, manifest string) (managed, string) {
	t.Helper()
	var obj managed = &v1alpha1.SIM{}
	if strings.Contains(manifest, "kind: Connector") {
		obj = &v1alpha1.Connector{}
	}
	if err := yaml.Unmarshal([]byte(manifest), obj); err != nil {
		t.Fatal(err)
	}
	switch o := obj.(type) {
	case *v1alpha1.SIM:
		return o, "/sim/" + o.Spec.IMSI
	case *v1alpha1.Connector:
		return o, "/connector/" + o.Spec.ID
	}
	return nil, ""
}

// apply creates or updates the manifest's object, as kubectl apply would.
func (f *fixture) apply(t *testing.T, manifest string) {
	t.Helper()
	obj, _ := decode(t, manifest)
	live, _ := decode(t, manifest)
	if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), live); err != nil {
		if err := f.c.Create(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
		return
	}
	obj.SetResourceVersion(live.GetResourceVersion())
	if err := f.c.Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

// settled waits until the operator has answered the object's generation.
func (f *fixture) settled(t *testing.T, manifest string) {
	t.Helper()
	waitFor(t, "reconciled: "+manifest, func() bool {
		obj := f.live(t, manifest)
		if obj == nil {
			return false
		}
		_, st := obj.Managed()
		c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionSynced)
		return c != nil && (c.ObservedGeneration == obj.GetGeneration() || c.Reason == controller.ReasonReconcilePaused)
	})
}

// live is the manifest's object as the apiserver has it, nil if it has none.
func (f *fixture) live(t *testing.T, manifest string) managed {
	obj, _ := decode(t, manifest)
	if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		return nil
	}
	return obj
}

// diffAction is diff's action and detail for one manifest.
func (f *fixture) diffAction(t *testing.T, manifest string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manifest.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := f.run(t, "diff", "-f", path, "-o", "json")
	var got struct{ Changes []change }
	if jerr := json.Unmarshal([]byte(stdout), &got); jerr != nil || len(got.Changes) != 1 {
		t.Fatalf("diff: %v, %v\n%s%s", err, jerr, stdout, stderr)
	}
	return got.Changes[0].Action + " " + got.Changes[0].Detail
}

// operatorAction names what the operator did with the object, in diff's
// words: from its Synced condition and the API calls about it.
func (f *fixture) operatorAction(t *testing.T, manifest string, bound bool, from int) string {
	t.Helper()
	obj := f.live(t, manifest)
	_, path := decode(t, manifest)
	policy, st := obj.Managed()
	synced := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionSynced)
	switch {
	case synced.Reason == controller.ReasonReconcilePaused:
		return actionPaused
	case synced.Status == metav1.ConditionFalse && st.LastError != nil && !st.LastError.Terminal:
		return actionNotKnown // retried; nothing decided
	case synced.Status == metav1.ConditionFalse:
		return actionRefused + " " + synced.Reason
	case policy.ManagementPolicy == v1alpha1.ManagementPolicyObserveOnly:
		return actionObserve
	}
	created, wrote := false, false
	for _, r := range f.sim.Requests()[from:] {
		if r.Path != path || r.Status >= 300 {
			continue
		}
		created = created || r.Method == http.MethodPost
		wrote = wrote || r.Method == http.MethodPut
	}
	switch {
	case created:
		return actionCreate
	case !bound:
		return actionAdopt
	case wrote:
		return actionUpdate
	}
	return actionNothing
}
