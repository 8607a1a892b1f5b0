package bench

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/simulator"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

// nsCurrent holds the current edition's scenario.
const nsCurrent = "current"

// CurrentResult is a fleet on Onomondo's current API (an Account with
// edition Current at the hosted budget): imported SIMs adopted from the
// account's list, one drift period at steady state, and a spec change.
type CurrentResult struct {
	SIMs int `json:"sims"`
	// Rate is the account's budget (the hosted 10 calls/s).
	Rate float64 `json:"rate"`
	// AdoptSeconds and AdoptCalls: all N imported SIMs Ready, and the API
	// calls that took; AdoptCallBound is ceil(N/1000) + 10.
	AdoptSeconds   float64 `json:"adoptSeconds"`
	AdoptCalls     int     `json:"adoptCalls"`
	AdoptCallBound int     `json:"adoptCallBound"`
	// SyncPeriod, and in one period at steady state: list calls, GETs of
	// one SIM, and the SIM resources the apiserver saw written.
	SyncPeriod      string `json:"syncPeriod"`
	SteadyListCalls int    `json:"steadyListCalls"`
	SteadyGets      int    `json:"steadyGets"`
	SteadyWrites    int    `json:"steadyWrites"`
	// ChangeSeconds: a spec change, from the patch to its PATCH at the API.
	ChangeSeconds float64 `json:"changeSeconds"`
	// DriftSeconds50k is a 50,000-SIM account's drift round at the budget:
	// its list calls ÷ rate.
	DriftSeconds50k float64 `json:"driftSeconds50k"`
	// Drifted SIMs were changed behind the operator's back (their label, at
	// the API), enough to saturate the budget with corrections. DriftCalls
	// are the API calls that corrected them (PATCHes and list calls), all
	// done DriftSeconds after the change at the API.
	Drifted      int     `json:"drifted"`
	DriftPatches int     `json:"driftPatches"`
	DriftLists   int     `json:"driftLists"`
	DriftSeconds float64 `json:"driftSeconds"`
	// SaturatedRate is the API calls per second in the 2 s before a spec
	// change made while the corrections ran; SaturatedChangeSeconds is that
	// change's wait for its PATCH.
	SaturatedRate          float64 `json:"saturatedRate"`
	SaturatedChangeSeconds float64 `json:"saturatedChangeSeconds"`
}

// current runs the scenario on an organisation of its own.
func (e *env) current(ctx context.Context) (*CurrentResult, error) {
	n, rate := e.cfg.CurrentSIMs, 10.0
	org, err := testutil.StartSimulator(simulator.Options{APIKey: "org-current-key"})
	if err != nil {
		return nil, err
	}
	defer org.Close()
	for i := range n {
		org.PutCurrentSIM(simulator.CurrentSIM{ID: fmt.Sprintf("%09d", i+1), ICCID: fmt.Sprintf("89457387300%09d", i+1), Activated: true,
			Label: ptr.To(fmt.Sprintf("unit %d", i))})
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsCurrent}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: "org-current"}, StringData: map[string]string{"apiKey": "org-current-key"}},
		&v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: "current"}, Spec: v1alpha1.AccountSpec{
			APIURL: org.URL(), CABundle: string(org.CAPEM), Rate: int32(rate), Burst: 1, Edition: v1alpha1.EditionCurrent,
			APIKeySecretRef: v1alpha1.SecretKeyReference{Name: "org-current"}}},
	} {
		if err := e.admin.Create(ctx, obj); client.IgnoreAlreadyExists(err) != nil {
			return nil, err
		}
	}
	m, err := e.startManager(nsCurrent, "--sync-period="+e.cfg.SyncPeriod.String())
	if err != nil {
		return nil, err
	}
	defer m.stop()

	e.cfg.Log("current: %d imported SIMs (observe-first, by SIM ID) on a Current account at %g calls/s", n, rate)
	start := time.Now()
	if err := e.parallel(ctx, n, func(ctx context.Context, i int) error { return e.admin.Create(ctx, currentSIM(i)) }); err != nil {
		return nil, err
	}
	if err := e.waitReady(ctx, nsCurrent, n, 30*time.Minute, e.progress("current", n)); err != nil {
		return nil, err
	}
	res := &CurrentResult{SIMs: n, Rate: rate, AdoptSeconds: time.Since(start).Seconds(), AdoptCalls: len(org.Requests()),
		AdoptCallBound: int(math.Ceil(float64(n)/1000)) + 10, SyncPeriod: e.cfg.SyncPeriod.String(),
		DriftSeconds50k: math.Ceil(50000.0/1000) / rate}

	versions, err := e.resourceVersions(ctx)
	if err != nil {
		return nil, err
	}
	before := len(org.Requests())
	e.cfg.Log("current: steady, one sync period (%s)", e.cfg.SyncPeriod)
	time.Sleep(e.cfg.SyncPeriod + e.cfg.SyncPeriod/10 + 5*time.Second)
	for _, r := range org.Requests()[before:] {
		switch {
		case r.Method == "GET" && r.Path == "/sims":
			res.SteadyListCalls++
		case r.Method == "GET" && strings.HasPrefix(r.Path, "/sims/"):
			res.SteadyGets++
		}
	}
	after, err := e.resourceVersions(ctx)
	if err != nil {
		return nil, err
	}
	for k, v := range after {
		if versions[k] != v {
			res.SteadyWrites++
		}
	}

	if res.ChangeSeconds, err = e.currentChange(ctx, org, 0, "moved"); err != nil {
		return nil, err
	}
	e.cfg.Log("current: adopted %d SIMs in %.1fs with %d API calls (bound %d); one period: %d list calls, %d GETs, %d SIMs written; a change's PATCH after %.2fs",
		n, res.AdoptSeconds, res.AdoptCalls, res.AdoptCallBound, res.SteadyListCalls, res.SteadyGets, res.SteadyWrites, res.ChangeSeconds)
	if err := e.currentSaturated(ctx, org, res); err != nil {
		return nil, err
	}
	return res, nil
}

// currentChange patches the i-th SIM's label and returns how long its PATCH
// took to reach the API (-1: not within a minute).
func (e *env) currentChange(ctx context.Context, org *testutil.SimServer, i int, label string) (float64, error) {
	before := len(org.Requests())
	patched := time.Now()
	if err := e.admin.Patch(ctx, currentSIM(i), client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"label":%q}}`, label))); err != nil {
		return 0, err
	}
	path := "/sims/" + currentSIM(i).Spec.SIMID
	for time.Since(patched) < time.Minute {
		for _, r := range org.Requests()[before:] {
			if r.Method == "PATCH" && r.Path == path {
				return r.Time.Sub(patched).Seconds(), nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return -1, nil
}

// currentSaturated changes a quarter of the fleet's labels at the API,
// behind the operator's back: their corrections, found by drift checks
// spread over the period, ask for more than the account's budget. Once the
// API sees calls at the budget, a spec change is made and timed; then every
// drifted SIM must be corrected.
func (e *env) currentSaturated(ctx context.Context, org *testutil.SimServer, res *CurrentResult) error {
	res.Drifted = res.SIMs / 4
	ids := make([]string, res.Drifted)
	before := len(org.Requests())
	drifted := time.Now()
	for k := range ids {
		ids[k] = currentSIM(k + 1).Spec.SIMID // not the SIM the change is made on
		c, _ := org.CurrentSIM(ids[k])
		c.Label = ptr.To("drifted")
		org.PutCurrentSIM(c)
	}
	e.cfg.Log("current: %d SIMs drifted at the API; waiting for the corrections to saturate the budget", res.Drifted)
	window := 2 * time.Second
	for deadline := time.Now().Add(2 * e.cfg.SyncPeriod); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if res.SaturatedRate = float64(callsSince(org.Requests()[before:], time.Now().Add(-window))) / window.Seconds(); res.SaturatedRate >= 0.8*res.Rate {
			break
		}
	}
	var err error
	if res.SaturatedChangeSeconds, err = e.currentChange(ctx, org, 0, "moved again"); err != nil {
		return err
	}
	res.DriftSeconds = -1
	for deadline := time.Now().Add(3*e.cfg.SyncPeriod + time.Duration(float64(res.Drifted)/res.Rate)*time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		if correctedAll(org, ids) {
			res.DriftSeconds = time.Since(drifted).Seconds()
			break
		}
	}
	for _, r := range org.Requests()[before:] {
		switch {
		case r.Method == "PATCH" && r.Path != "/sims/"+currentSIM(0).Spec.SIMID:
			res.DriftPatches++
		case r.Method == "GET" && r.Path == "/sims":
			res.DriftLists++
		}
	}
	e.cfg.Log("current: %d drifted SIMs corrected after %.1fs with %d PATCHes and %d list calls; a change at %.1f calls/s reached the API after %.2fs",
		res.Drifted, res.DriftSeconds, res.DriftPatches, res.DriftLists, res.SaturatedRate, res.SaturatedChangeSeconds)
	return nil
}

// callsSince counts the requests at or after t.
func callsSince(reqs []simulator.Request, t time.Time) int {
	n := 0
	for _, r := range reqs {
		if !r.Time.Before(t) {
			n++
		}
	}
	return n
}

// correctedAll: every SIM has its spec's label back.
func correctedAll(org *testutil.SimServer, ids []string) bool {
	for _, id := range ids {
		if c, _ := org.CurrentSIM(id); c.Label != nil && *c.Label == "drifted" {
			return false
		}
	}
	return true
}

// currentSIM is the i-th imported SIM: by SIM ID, observe-first, managing
// what the card already has.
func currentSIM(i int) *v1alpha1.SIM {
	return &v1alpha1.SIM{
		ObjectMeta: metav1.ObjectMeta{Namespace: nsCurrent, Name: fmt.Sprintf("sim-%09d", i+1),
			Annotations: map[string]string{v1alpha1.AnnotationObserveFirst: "true"}},
		Spec: v1alpha1.SIMSpec{SIMID: fmt.Sprintf("%09d", i+1),
			CurrentSettings: v1alpha1.CurrentSettings{Activated: ptr.To(true), Label: ptr.To(fmt.Sprintf("unit %d", i))},
			ManagedPolicies: v1alpha1.ManagedPolicies{DeletionPolicy: v1alpha1.DeletionPolicyOrphan,
				AccountRef: &v1alpha1.AccountReference{Kind: "Account", Name: "current"}}},
	}
}

// resourceVersions of the scenario's SIM resources, from the apiserver.
func (e *env) resourceVersions(ctx context.Context) (map[string]string, error) {
	var list v1alpha1.SIMList
	if err := e.admin.List(ctx, &list, client.InNamespace(nsCurrent)); err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	out := map[string]string{}
	for _, s := range list.Items {
		out[s.Name] = s.ResourceVersion
	}
	return out, nil
}
