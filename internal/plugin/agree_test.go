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
		f.settled(t, name)
	}

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
	} {
		t.Run(row.name, func(t *testing.T) {
			said := f.diffAction(t, row.manifest)
			if !strings.HasPrefix(said, row.want) {
				t.Fatalf("diff said %q, want %q", said, row.want)
			}
			name := manifestName(t, row.manifest)
			before := f.live(t, name)
			from := len(f.sim.Requests())
			f.apply(t, row.manifest)
			f.settled(t, name)
			if did := f.operatorAction(t, name, manifestIMSI(t, row.manifest), before, from); !strings.HasPrefix(said, did) {
				t.Errorf("diff said %q; the operator did %q", said, did)
			}
		})
	}
}

// apply creates or updates the manifest's SIM, as kubectl apply would.
func (f *fixture) apply(t *testing.T, manifest string) {
	t.Helper()
	var s v1alpha1.SIM
	if err := yaml.Unmarshal([]byte(manifest), &s); err != nil {
		t.Fatal(err)
	}
	var live v1alpha1.SIM
	if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(&s), &live); err == nil {
		live.Spec, live.Annotations = s.Spec, s.Annotations
		if err := f.c.Update(context.Background(), &live); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := f.c.Create(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
}

// settled waits until the operator has answered the SIM's generation.
func (f *fixture) settled(t *testing.T, name string) {
	t.Helper()
	waitFor(t, "SIM "+name+" reconciled", func() bool {
		s := f.live(t, name)
		c := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionSynced)
		return s != nil && c != nil && (c.ObservedGeneration == s.Generation || c.Reason == controller.ReasonReconcilePaused)
	})
}

func (f *fixture) live(t *testing.T, name string) *v1alpha1.SIM {
	var s v1alpha1.SIM
	if err := f.c.Get(context.Background(), client.ObjectKey{Namespace: "agree", Name: name}, &s); err != nil {
		return nil
	}
	return &s
}

// diffAction is diff's action and detail for one manifest.
func (f *fixture) diffAction(t *testing.T, manifest string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sim.yaml")
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

// operatorAction names what the operator did with the SIM, in diff's
// words: from its Synced condition and the API calls about its IMSI.
func (f *fixture) operatorAction(t *testing.T, name, imsi string, before *v1alpha1.SIM, from int) string {
	t.Helper()
	s := f.live(t, name)
	synced := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionSynced)
	switch {
	case synced.Reason == controller.ReasonReconcilePaused:
		return actionPaused
	case synced.Status == metav1.ConditionFalse && s.Status.LastError != nil && !s.Status.LastError.Terminal && s.Status.Binding == nil:
		return actionNotKnown // retried; nothing decided
	case synced.Status == metav1.ConditionFalse:
		return actionRefused + " " + synced.Reason
	case s.Spec.ManagementPolicy == v1alpha1.ManagementPolicyObserveOnly:
		return actionObserve
	}
	created, wrote := false, false
	for _, r := range f.sim.Requests()[from:] {
		if r.Path != "/sim/"+imsi || r.Status >= 300 {
			continue
		}
		created = created || r.Method == http.MethodPost
		wrote = wrote || r.Method == http.MethodPut
	}
	bound := before != nil && before.Status.Binding != nil
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

func manifestName(t *testing.T, manifest string) string {
	var s v1alpha1.SIM
	if err := yaml.Unmarshal([]byte(manifest), &s); err != nil {
		t.Fatal(err)
	}
	return s.Name
}

func manifestIMSI(t *testing.T, manifest string) string {
	var s v1alpha1.SIM
	if err := yaml.Unmarshal([]byte(manifest), &s); err != nil {
		t.Fatal(err)
	}
	return s.Spec.IMSI
}
