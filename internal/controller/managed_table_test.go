package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// The decision table of managed.go, one row per decision, in the style of
// crossplane-runtime's reconciler_test.go: a recording fake of the API and
// controller-runtime's fake client, no apiserver. Each row asserts the exact
// calls and the conditions, binding and requeue they lead to. The envtest
// specs cover what only a real apiserver shows (admission, patches, indexes,
// watches, finalizers).

const (
	imsiA   = "238730000000001"
	imsiB   = "238730000000002"
	msisdnA = "4561000001"
	msisdnB = "4561000002"
)

// fakeSIMAPI is a SIM table and a log of calls ("POST 2387…"). fail makes a
// method fail once per listed error, in order.
type fakeSIMAPI struct {
	sims  []onomondo.SIM
	fail  map[string][]error
	calls []string
}

func (f *fakeSIMAPI) call(method, id string) error {
	f.calls = append(f.calls, method+" "+id)
	if errs := f.fail[method]; len(errs) > 0 {
		f.fail[method] = errs[1:]
		return errs[0]
	}
	return nil
}

func (f *fakeSIMAPI) find(id string) int {
	return slices.IndexFunc(f.sims, func(s onomondo.SIM) bool { return s.IMSI == id || (s.MSISDN != "" && s.MSISDN == id) })
}

func (f *fakeSIMAPI) GetSIM(_ context.Context, id string) (*onomondo.SIM, error) {
	if err := f.call("GET", id); err != nil {
		return nil, err
	}
	if i := f.find(id); i >= 0 {
		s := f.sims[i]
		return &s, nil
	}
	return nil, notFound
}

func (f *fakeSIMAPI) CreateSIM(_ context.Context, id string, s onomondo.SIM) error {
	if err := f.call("POST", id); err != nil {
		return err
	}
	if f.find(id) >= 0 || (s.MSISDN != "" && f.find(s.MSISDN) >= 0) {
		return &onomondo.APIError{StatusCode: 409, Code: onomondo.CodeIMSIConflict}
	}
	f.sims = append(f.sims, s)
	return nil
}

func (f *fakeSIMAPI) UpdateSIM(_ context.Context, id string, s onomondo.SIM) error {
	if err := f.call("PUT", id); err != nil {
		return err
	}
	if i := f.find(id); i >= 0 {
		f.sims[i] = s
		return nil
	}
	return notFound
}

func (f *fakeSIMAPI) DeleteSIM(_ context.Context, id string) error {
	if err := f.call("DELETE", id); err != nil {
		return err
	}
	if i := f.find(id); i >= 0 {
		f.sims = slices.Delete(f.sims, i, i+1)
		return nil
	}
	return notFound
}

var (
	notFound    = &onomondo.APIError{StatusCode: 404, Code: onomondo.CodeSIMNotFound}
	unavailable = &onomondo.APIError{StatusCode: 503, RetryAfter: 30 * time.Second}
	tooMany     = &onomondo.APIError{StatusCode: 429, Code: onomondo.CodeRateLimited, RetryAfter: 7 * time.Second}
	refused     = &onomondo.APIError{StatusCode: 400, Code: onomondo.CodeVoiceInvalid}
	revoked     = &onomondo.APIError{StatusCode: 401, Code: onomondo.CodeUnauthorized}
	bare404     = &onomondo.APIError{StatusCode: 404}
	imsiUnknown = &onomondo.APIError{StatusCode: 404, Code: onomondo.CodeIMSINotFound}
	hostile     = &onomondo.APIError{StatusCode: 400, Code: "bad code <" + strings.Repeat("x", 40) + ">", Message: strings.Repeat("m", 40000)}
	invalid     = &onomondo.InvalidResponseError{Method: "GET", Route: onomondo.RouteSIM, Reason: "another SIM"}
	held        = &onomondo.BudgetError{Method: "PUT", Route: onomondo.RouteSIM, Err: errors.New("held"), RetryAfter: 4 * time.Minute}
	redirected  = &onomondo.RedirectError{Method: "POST", Route: onomondo.RouteSIM, StatusCode: 307, Target: "https://elsewhere"}
	errLookup   = errors.New("cache unavailable")
)

// fakeRecorder keeps the reasons of the events recorded.
type fakeRecorder struct{ reasons []string }

func (r *fakeRecorder) Eventf(_ runtime.Object, _ runtime.Object, _, reason, _, _ string, _ ...any) {
	r.reasons = append(r.reasons, reason)
}

func (r *fakeRecorder) AnnotatedEventf(_ runtime.Object, _ runtime.Object, _ map[string]string, _, reason, _, _ string, _ ...any) {
	r.reasons = append(r.reasons, reason)
}

var created = metav1.NewTime(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))

// simObj is a SIM resource in namespace "ns", generation 1, created at `created`.
func simObj(name string, spec v1alpha1.SIMSpec, changes ...func(*v1alpha1.SIM)) *v1alpha1.SIM {
	s := &v1alpha1.SIM{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Generation: 1,
			CreationTimestamp: created},
		Spec: spec,
	}
	s.Spec.DeletionPolicy, s.Spec.ManagementPolicy = v1alpha1.DeletionPolicyDelete, v1alpha1.ManagementPolicyManage
	for _, c := range changes {
		c(s)
	}
	return s
}

func byIMSI(imsi string, voice bool) v1alpha1.SIMSpec {
	return v1alpha1.SIMSpec{IMSI: imsi, SIMSettings: v1alpha1.SIMSettings{Voice: ptr.To(voice)}}
}

// withFinalizer, bound, synced, … shape a SIM's metadata and status.
func withFinalizer(s *v1alpha1.SIM) { s.Finalizers = []string{Finalizer} }

func bound(imsi, msisdn string, voice bool) func(*v1alpha1.SIM) {
	return func(s *v1alpha1.SIM) {
		withFinalizer(s)
		s.Status.Binding = &v1alpha1.SIMBinding{IMSI: imsi, MSISDN: msisdn}
		s.Status.AtProvider = observation(&onomondo.SIM{IMSI: imsi, MSISDN: msisdn, Voice: voice, SMS: true, Data: true})
	}
}

func synced(s *v1alpha1.SIM) {
	s.Status.ObservedGeneration = s.Generation
	setCondition(s, v1alpha1.ConditionSynced, metav1.ConditionTrue, ReasonReconcileSuccess, "")
	setCondition(s, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAvailable, "")
}

func newGeneration(s *v1alpha1.SIM) { s.Generation = 2 }

func observeOnly(s *v1alpha1.SIM) { s.Spec.ManagementPolicy = v1alpha1.ManagementPolicyObserveOnly }

func orphan(s *v1alpha1.SIM) { s.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan }

func deleting(s *v1alpha1.SIM) {
	now := metav1.NewTime(created.Add(time.Hour))
	s.DeletionTimestamp = &now
	if len(s.Finalizers) == 0 {
		s.Finalizers = []string{"example.com/other"} // the fake client keeps only objects with a finalizer
	}
}

func terminalFailure(s *v1alpha1.SIM) {
	s.Status.ObservedGeneration = s.Generation
	s.Status.LastError = errorStatus(refused)
	setCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, "VoiceInvalid", refused.Error())
}

func wasDuplicate(s *v1alpha1.SIM) {
	setCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonDuplicateSIM, "")
}

func annotated(key, value string) func(*v1alpha1.SIM) {
	return func(s *v1alpha1.SIM) { s.Annotations = map[string]string{key: value} }
}

func handledRequest(value string) func(*v1alpha1.SIM) {
	return func(s *v1alpha1.SIM) { s.Status.LastHandledRequestedAt = value }
}

func olderBy(d time.Duration) func(*v1alpha1.SIM) {
	return func(s *v1alpha1.SIM) { s.CreationTimestamp = metav1.NewTime(created.Add(-d)) }
}

// want is what a row expects after one Reconcile.
type want struct {
	calls []string
	// ready and synced are "Status/Reason"; empty: not checked.
	ready, synced string
	binding       *v1alpha1.SIMBinding
	terminal      bool
	gone          bool
	finalizer     bool
	events        []string
	// requeue: zero means no requeue; otherwise at least this long.
	requeue time.Duration
	err     bool
	// progress is the kstatus condition present, "Stalled/Reason" or
	// "Reconciling/Reason", or "none"; empty: not checked.
	progress string
	// claim is the holder of imsiA's Claim afterwards ("none": no Claim;
	// empty: not checked).
	claim string
	// handled is status.lastHandledRequestedAt; empty: not checked.
	handled string
}

type row struct {
	name   string
	obj    *v1alpha1.SIM
	others []*v1alpha1.SIM
	api    []onomondo.SIM
	fail   map[string][]error
	// intercept injects apiserver failures.
	intercept interceptor.Funcs
	// accounts resolves accounts; nil: the default account serves all.
	accounts accountResolver
	// seen: this process has reconciled the object before (false: it has
	// just started, after a restart or a failover).
	seen bool
	// claims are Claims already in the apiserver (another manager's).
	claims []*v1alpha1.Claim
	want   want
}

// fakeAccounts refuses or allows every account; allowed, the row's fake API
// serves. Like Accounts it knows every account's budget and edition.
type fakeAccounts struct {
	err     error
	rate    float64
	rates   map[string]float64 // per account, over rate
	current bool
}

func (f fakeAccounts) Rate(key string) float64 {
	if r, ok := f.rates[key]; ok || f.rates != nil {
		return r
	}
	return f.rate
}
func (f fakeAccounts) Current(string) bool { return f.current }

func (f fakeAccounts) Resolve(context.Context, string, *v1alpha1.AccountReference) (*onomondo.Client, error) {
	return nil, f.err
}

func refusedBy(s *v1alpha1.SIM) {
	setCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonAccountNotAllowed, "")
}

func live(imsi, msisdn string, voice bool) onomondo.SIM {
	return onomondo.SIM{IMSI: imsi, MSISDN: msisdn, Voice: voice, SMS: true, Data: true}
}

// apiserverDown is the apiserver failing a request for now.
var apiserverDown = apierrors.NewServiceUnavailable("apiserver restarting")

// claimCall applies f's Create and Delete to Claims only; every other
// object goes through.
func claimCall(f interceptor.Funcs) interceptor.Funcs {
	out := interceptor.Funcs{}
	if f.Create != nil {
		out.Create = func(ctx context.Context, c client.WithWatch, obj client.Object, o ...client.CreateOption) error {
			if _, ok := obj.(*v1alpha1.Claim); ok {
				return f.Create(ctx, c, obj, o...)
			}
			return c.Create(ctx, obj, o...)
		}
	}
	if f.Delete != nil {
		out.Delete = func(ctx context.Context, c client.WithWatch, obj client.Object, o ...client.DeleteOption) error {
			if _, ok := obj.(*v1alpha1.Claim); ok {
				return f.Delete(ctx, c, obj, o...)
			}
			return c.Delete(ctx, obj, o...)
		}
	}
	return out
}

func TestManagedSIMDecisionTable(t *testing.T) {
	listFails := interceptor.Funcs{List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
		return errLookup
	}}
	patchFails := interceptor.Funcs{Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
		return apierrors.NewConflict(schema.GroupResource{Resource: "sims"}, "x", errors.New("changed"))
	}}
	rows := []row{
		// Create, adopt, update.
		{name: "a new SIM is created with one POST and bound",
			obj: simObj("s", byIMSI(imsiA, false)),
			want: want{calls: []string{"POST " + imsiA}, ready: "True/Available", synced: "True/ReconcileSuccess",
				binding: &v1alpha1.SIMBinding{IMSI: imsiA}, finalizer: true, events: []string{"Created"}, requeue: time.Minute, progress: "none"}},
		{name: "409 adopts a SIM that matches: POST, GET, no PUT",
			obj: simObj("s", byIMSI(imsiA, true)), api: []onomondo.SIM{live(imsiA, msisdnA, true)},
			want: want{calls: []string{"POST " + imsiA, "GET " + imsiA}, ready: "True/Available",
				binding: &v1alpha1.SIMBinding{IMSI: imsiA, MSISDN: msisdnA}, finalizer: true, events: []string{"Adopted"}, requeue: time.Minute}},
		{name: "409 adopts a SIM that differs: POST, GET, PUT",
			obj: simObj("s", byIMSI(imsiA, false)), api: []onomondo.SIM{live(imsiA, msisdnA, true)},
			want: want{calls: []string{"POST " + imsiA, "GET " + imsiA, "PUT " + imsiA}, ready: "True/Available",
				binding: &v1alpha1.SIMBinding{IMSI: imsiA, MSISDN: msisdnA}, finalizer: true, events: []string{"Adopted", "Updated"}, requeue: time.Minute}},
		{name: "a 409 over an MSISDN another SIM holds is terminal",
			obj: simObj("s", v1alpha1.SIMSpec{IMSI: imsiA, MSISDN: msisdnA}), api: []onomondo.SIM{live(imsiB, msisdnA, true)},
			want: want{calls: []string{"POST " + imsiA, "GET " + imsiA}, synced: "False/ImsiConflict", terminal: true,
				finalizer: true, events: []string{"SyncFailed"}}},
		{name: "an adoption GET that fails is retried",
			obj: simObj("s", byIMSI(imsiA, true)), api: []onomondo.SIM{live(imsiA, "", true)}, fail: map[string][]error{"GET": {unavailable}},
			want: want{calls: []string{"POST " + imsiA, "GET " + imsiA}, synced: "False/ServiceUnavailable", finalizer: true,
				events: []string{"SyncFailed"}, requeue: 30 * time.Second}},
		{name: "a spec change is one PUT to the bound SIM",
			obj: simObj("s", byIMSI(imsiA, false), bound(imsiA, msisdnA, true), synced, newGeneration), seen: true,
			api: []onomondo.SIM{live(imsiA, msisdnA, true)},
			want: want{calls: []string{"PUT " + imsiA}, ready: "True/Available", synced: "True/ReconcileSuccess",
				binding: &v1alpha1.SIMBinding{IMSI: imsiA, MSISDN: msisdnA}, events: []string{"Updated"}, requeue: time.Minute}},
		{name: "a spec change pending when the process started reads first: the predecessor applied it, no PUT",
			obj:  simObj("s", byIMSI(imsiA, false), bound(imsiA, msisdnA, true), synced, newGeneration),
			api:  []onomondo.SIM{live(imsiA, msisdnA, false)},
			want: want{calls: []string{"GET " + imsiA}, ready: "True/Available", synced: "True/ReconcileSuccess", requeue: time.Minute}},
		{name: "a spec change pending when the process started reads first, then PUTs what still differs",
			obj:  simObj("s", byIMSI(imsiA, false), bound(imsiA, msisdnA, true), synced, newGeneration),
			api:  []onomondo.SIM{live(imsiA, msisdnA, true)},
			want: want{calls: []string{"GET " + imsiA, "PUT " + imsiA}, ready: "True/Available", events: []string{"Updated"}, requeue: time.Minute}},
		{name: "a PUT that finds the SIM gone creates it again",
			obj: simObj("s", byIMSI(imsiA, false), bound(imsiA, "", true), synced, newGeneration), seen: true,
			want: want{calls: []string{"PUT " + imsiA, "POST " + imsiA}, ready: "True/Available", events: []string{"Recreated"}, requeue: time.Minute}},
		{name: "a PUT refused is terminal for the generation",
			obj: simObj("s", byIMSI(imsiA, false), bound(imsiA, "", true), synced, newGeneration), seen: true,
			api: []onomondo.SIM{live(imsiA, "", true)}, fail: map[string][]error{"PUT": {refused}},
			want: want{calls: []string{"PUT " + imsiA}, ready: "False/VoiceInvalid", synced: "False/VoiceInvalid", terminal: true,
				events: []string{"SyncFailed"}}},
		{name: "a recreate that fails is retried",
			obj: simObj("s", byIMSI(imsiA, false), bound(imsiA, "", true), synced, newGeneration), seen: true,
			fail: map[string][]error{"POST": {unavailable}},
			want: want{calls: []string{"PUT " + imsiA, "POST " + imsiA}, synced: "False/ServiceUnavailable",
				events: []string{"SyncFailed"}, requeue: 30 * time.Second}},

		// Drift.
		{name: "a due drift check that finds the SIM as specified makes one GET",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true)), api: []onomondo.SIM{live(imsiA, msisdnA, true)},
			want: want{calls: []string{"GET " + imsiA}, ready: "True/Available", binding: &v1alpha1.SIMBinding{IMSI: imsiA, MSISDN: msisdnA}, requeue: time.Minute}},
		{name: "drift is corrected with one PUT",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true)), api: []onomondo.SIM{live(imsiA, "", false)},
			want: want{calls: []string{"GET " + imsiA, "PUT " + imsiA}, ready: "True/Available", events: []string{"DriftCorrected"}, requeue: time.Minute}},
		{name: "a SIM deleted behind the operator's back is created again",
			obj:  simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true)),
			want: want{calls: []string{"GET " + imsiA, "POST " + imsiA}, ready: "True/Available", events: []string{"Recreated"}, requeue: time.Minute}},
		{name: "a drift check that fails is retried after Retry-After",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true)), fail: map[string][]error{"GET": {unavailable}},
			want: want{calls: []string{"GET " + imsiA}, synced: "False/ServiceUnavailable",
				events: []string{"SyncFailed"}, requeue: 30 * time.Second}},
		{name: "an in-sync SIM just resumed makes no call",
			obj:  simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), synced),
			want: want{ready: "True/Available", synced: "True/ReconcileSuccess", requeue: time.Millisecond}},

		// Errors.
		{name: "a refused create is terminal: no retry until the spec changes",
			obj: simObj("s", byIMSI(imsiA, true)), fail: map[string][]error{"POST": {refused}},
			want: want{calls: []string{"POST " + imsiA}, ready: "False/VoiceInvalid", synced: "False/VoiceInvalid", terminal: true,
				finalizer: true, events: []string{"SyncFailed"}, progress: "Stalled/VoiceInvalid"}},
		{name: "a terminal error for this generation makes no call",
			obj:  simObj("s", byIMSI(imsiA, true), withFinalizer, terminalFailure),
			want: want{synced: "False/VoiceInvalid", terminal: true}},
		{name: "a 503 is retried after its Retry-After",
			obj: simObj("s", byIMSI(imsiA, true)), fail: map[string][]error{"POST": {unavailable}},
			want: want{calls: []string{"POST " + imsiA}, synced: "False/ServiceUnavailable", finalizer: true,
				events: []string{"SyncFailed"}, requeue: 30 * time.Second, progress: "Reconciling/ServiceUnavailable"}},
		{name: "a 429 waits for the API's reset without growing the backoff",
			obj: simObj("s", byIMSI(imsiA, true)), fail: map[string][]error{"POST": {tooMany}},
			want: want{calls: []string{"POST " + imsiA}, synced: "False/RateLimited", finalizer: true,
				events: []string{"SyncFailed"}, requeue: 7 * time.Second}},
		{name: "a rejected key is CredentialsRejected and retried",
			obj: simObj("s", byIMSI(imsiA, true)), fail: map[string][]error{"POST": {revoked}},
			want: want{calls: []string{"POST " + imsiA}, synced: "False/CredentialsRejected", finalizer: true,
				events: []string{"SyncFailed"}, requeue: time.Millisecond, progress: "Stalled/CredentialsRejected"}},

		// Observe only.
		{name: "observe-only reads, binds, and is Ready when the SIM matches",
			obj: simObj("s", byIMSI(imsiA, true), observeOnly), api: []onomondo.SIM{live(imsiA, msisdnA, true)},
			want: want{calls: []string{"GET " + imsiA}, ready: "True/Available", binding: &v1alpha1.SIMBinding{IMSI: imsiA, MSISDN: msisdnA}, requeue: time.Minute}},
		{name: "observe-only reports a SIM that differs, without writing",
			obj: simObj("s", byIMSI(imsiA, false), observeOnly), api: []onomondo.SIM{live(imsiA, "", true)},
			want: want{calls: []string{"GET " + imsiA}, ready: "False/Differs", synced: "True/ReconcileSuccess", requeue: time.Minute}},
		{name: "observe-only of a missing SIM reads again at the next sync period",
			obj: simObj("s", byIMSI(imsiA, true), observeOnly),
			want: want{calls: []string{"GET " + imsiA}, synced: "False/SimNotFound", terminal: true,
				events: []string{"SyncFailed"}, requeue: time.Minute}},
		{name: "observe-only that is not due makes no call",
			obj:  simObj("s", byIMSI(imsiA, true), observeOnly, bound(imsiA, "", true), synced),
			want: want{ready: "True/Available", requeue: time.Millisecond}},
		{name: "observe-only refuses a spec IMSI that is not the bound one",
			obj:  simObj("s", byIMSI(imsiB, true), observeOnly, bound(imsiA, "", true), newGeneration),
			want: want{synced: "False/IdentityMismatch", terminal: true, events: []string{"SyncFailed"}, requeue: time.Minute}},
		{name: "observe-only that finds a twin owned by an older resource stops",
			obj:    simObj("s", v1alpha1.SIMSpec{MSISDN: msisdnA}, observeOnly),
			others: []*v1alpha1.SIM{simObj("owner", byIMSI(imsiA, true), olderBy(time.Hour), bound(imsiA, "", true))},
			api:    []onomondo.SIM{live(imsiA, msisdnA, true)},
			want:   want{calls: []string{"GET " + msisdnA}, ready: "False/DuplicateSIM", synced: "False/DuplicateSIM"}},

		// Identity and claims.
		{name: "an older resource naming the same IMSI owns it: no call",
			obj:    simObj("s", byIMSI(imsiA, true)),
			others: []*v1alpha1.SIM{simObj("owner", byIMSI(imsiA, false), olderBy(time.Hour))},
			want:   want{ready: "False/DuplicateSIM", synced: "False/DuplicateSIM", progress: "Stalled/DuplicateSIM"}},
		{name: "an older resource bound to the MSISDN this one names owns it: no call",
			obj:    simObj("s", v1alpha1.SIMSpec{MSISDN: "+" + msisdnA}),
			others: []*v1alpha1.SIM{simObj("owner", byIMSI(imsiA, false), olderBy(time.Hour), bound(imsiA, msisdnA, false))},
			want:   want{ready: "False/DuplicateSIM"}},
		{name: "within the same second the bound resource owns it",
			obj:    simObj("a-newcomer", byIMSI(imsiA, true)),
			others: []*v1alpha1.SIM{simObj("z-owner", byIMSI(imsiA, false), bound(imsiA, "", false))},
			want:   want{ready: "False/DuplicateSIM"}},
		{name: "within the same second, both unbound, the first by name owns it",
			obj:    simObj("b", byIMSI(imsiA, true)),
			others: []*v1alpha1.SIM{simObj("a", byIMSI(imsiA, false))},
			want:   want{ready: "False/DuplicateSIM"}},
		{name: "a twin named by MSISDN is caught from its adoption GET, before any write",
			obj:    simObj("s", v1alpha1.SIMSpec{MSISDN: msisdnA, SIMSettings: v1alpha1.SIMSettings{Voice: ptr.To(false)}}),
			others: []*v1alpha1.SIM{simObj("owner", byIMSI(imsiA, true), olderBy(time.Hour), bound(imsiA, "", true))},
			api:    []onomondo.SIM{live(imsiA, msisdnA, true)},
			want:   want{calls: []string{"POST " + msisdnA, "GET " + msisdnA}, ready: "False/DuplicateSIM", finalizer: true}},
		{name: "a spec IMSI that is not the bound SIM's is refused with no call",
			obj:  simObj("s", byIMSI(imsiB, true), bound(imsiA, msisdnA, true), synced, newGeneration),
			want: want{ready: "False/IdentityMismatch", synced: "False/IdentityMismatch", terminal: true, events: []string{"SyncFailed"}}},
		{name: "an IMSI added to a SIM bound by MSISDN is checked with one GET of the bound SIM",
			obj: simObj("s", v1alpha1.SIMSpec{IMSI: imsiB, MSISDN: msisdnA}, bound("", msisdnA, true), synced, newGeneration),
			api: []onomondo.SIM{live(imsiA, msisdnA, true)},
			want: want{calls: []string{"GET " + msisdnA}, synced: "False/IdentityMismatch", terminal: true,
				binding: &v1alpha1.SIMBinding{IMSI: imsiA, MSISDN: msisdnA}, events: []string{"SyncFailed"}}},
		{name: "a former duplicate takes the SIM over with a GET, not a POST",
			obj: simObj("s", byIMSI(imsiA, false), wasDuplicate), api: []onomondo.SIM{live(imsiA, "", true)},
			want: want{calls: []string{"GET " + imsiA, "PUT " + imsiA}, ready: "True/Available", binding: &v1alpha1.SIMBinding{IMSI: imsiA},
				finalizer: true, events: []string{"Adopted", "Updated"}, requeue: time.Minute}},
		{name: "an imported manifest adopts with one GET and no write when it matches",
			obj: simObj("s", byIMSI(imsiA, true), annotated(v1alpha1.AnnotationObserveFirst, "true")),
			api: []onomondo.SIM{live(imsiA, msisdnA, true)},
			want: want{calls: []string{"GET " + imsiA}, ready: "True/Available", binding: &v1alpha1.SIMBinding{IMSI: imsiA, MSISDN: msisdnA},
				finalizer: true, events: []string{"Adopted"}, requeue: time.Minute}},
		{name: "a former duplicate whose SIM is gone creates it",
			obj: simObj("s", byIMSI(imsiA, false), wasDuplicate),
			want: want{calls: []string{"GET " + imsiA, "POST " + imsiA}, ready: "True/Available", finalizer: true,
				events: []string{"Created"}, requeue: time.Minute}},
		{name: "a claim lookup that fails is an error, with no call",
			obj: simObj("s", byIMSI(imsiA, true)), intercept: listFails, want: want{err: true}},

		// Pause and sync now.
		{name: "a paused resource makes no call and says so once",
			obj:  simObj("s", byIMSI(imsiA, false), bound(imsiA, "", true), synced, newGeneration, annotated(v1alpha1.AnnotationPaused, "true")),
			want: want{synced: "False/ReconcilePaused", progress: "none"}}, // a spec change waits too
		{name: "deleting a paused resource waits",
			obj:  simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), deleting, annotated(v1alpha1.AnnotationPaused, "true")),
			want: want{synced: "False/ReconcilePaused"}},
		{name: "a sync request reads an in-sync SIM at once",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), synced, annotated(v1alpha1.AnnotationRequestedAt, "t1")),
			api: []onomondo.SIM{live(imsiA, "", false)},
			want: want{calls: []string{"GET " + imsiA, "PUT " + imsiA}, synced: "True/ReconcileSuccess", handled: "t1",
				events: []string{"DriftCorrected"}, requeue: time.Minute}},
		{name: "a sync request lifts a terminal block once",
			obj:  simObj("s", byIMSI(imsiA, true), withFinalizer, terminalFailure, annotated(v1alpha1.AnnotationRequestedAt, "t1")),
			want: want{calls: []string{"POST " + imsiA}, ready: "True/Available", handled: "t1", events: []string{"Created"}, requeue: time.Minute}},
		{name: "a sync request already handled does not lift it again",
			obj:  simObj("s", byIMSI(imsiA, true), withFinalizer, terminalFailure, annotated(v1alpha1.AnnotationRequestedAt, "t1"), handledRequest("t1")),
			want: want{synced: "False/VoiceInvalid", terminal: true, handled: "t1"}},
		{name: "a sync request makes an observe-only resource read at once",
			obj:  simObj("s", byIMSI(imsiA, true), observeOnly, bound(imsiA, "", true), synced, annotated(v1alpha1.AnnotationRequestedAt, "t2")),
			api:  []onomondo.SIM{live(imsiA, "", true)},
			want: want{calls: []string{"GET " + imsiA}, ready: "True/Available", handled: "t2", requeue: time.Minute}},

		// Accounts.
		{name: "an account the namespace may not use is refused with no call",
			obj: simObj("s", byIMSI(imsiA, true)), accounts: fakeAccounts{err: &accountError{Reason: ReasonAccountNotAllowed, Terminal: true, Msg: "no"}},
			want: want{synced: "False/AccountNotAllowed", terminal: true, events: []string{"SyncFailed"}, progress: "Stalled/AccountNotAllowed"}},
		{name: "an account that is gone is retried, with no call",
			obj: simObj("s", byIMSI(imsiA, true)), accounts: fakeAccounts{err: &accountError{Reason: ReasonAccountNotFound, Msg: "gone"}},
			want: want{synced: "False/AccountNotFound", events: []string{"SyncFailed"}, requeue: time.Millisecond}},
		{name: "an account resolving to no client is an error: no call through another client",
			obj: simObj("s", byIMSI(imsiA, true)), accounts: fakeAccounts{},
			want: want{synced: "False/ReconcileError", events: []string{"SyncFailed"}, requeue: time.Millisecond, claim: "none"}},
		{name: "an older resource refused its account owns nothing in it",
			obj:    simObj("s", byIMSI(imsiA, true)),
			others: []*v1alpha1.SIM{simObj("refused", byIMSI(imsiA, true), olderBy(time.Hour), refusedBy)},
			want:   want{calls: []string{"POST " + imsiA}, ready: "True/Available", finalizer: true, events: []string{"Created"}, requeue: time.Minute}},
		{name: "deleting through an account that is gone keeps the finalizer",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), deleting), accounts: fakeAccounts{err: &accountError{Reason: ReasonAccountNotFound, Msg: "gone"}},
			want: want{synced: "False/AccountNotFound", events: []string{"SyncFailed"}, requeue: time.Millisecond}},

		// Hardening: hostile tenants and broken answers.
		{name: "a number another resource's SIM holds, typed into a bound resource, claims nothing and is never sent",
			obj:    simObj("s", v1alpha1.SIMSpec{IMSI: imsiA, MSISDN: msisdnB}, olderBy(time.Hour), bound(imsiA, msisdnA, true), synced, newGeneration),
			others: []*v1alpha1.SIM{simObj("other", byIMSI(imsiB, true), bound(imsiB, msisdnB, true), synced)},
			api:    []onomondo.SIM{live(imsiA, msisdnA, true), live(imsiB, msisdnB, true)}, seen: true,
			want: want{synced: "False/IdentityMismatch", ready: "False/IdentityMismatch", events: []string{"SyncFailed"},
				progress: "Stalled/IdentityMismatch"}},
		{name: "a number change waits for the resource claiming the number to let it go, then is one PUT",
			obj: simObj("s", v1alpha1.SIMSpec{IMSI: imsiA, MSISDN: msisdnB, SIMSettings: v1alpha1.SIMSettings{Voice: ptr.To(true)}},
				bound(imsiA, msisdnA, true), synced, newGeneration, waitingForNumber), seen: true,
			api:  []onomondo.SIM{live(imsiA, msisdnA, true)},
			want: want{calls: []string{"PUT " + imsiA}, ready: "True/Available", binding: &v1alpha1.SIMBinding{IMSI: imsiA, MSISDN: msisdnB}, events: []string{"Updated"}, requeue: time.Minute}},
		{name: "the other SIM's younger resource is untouched by a number typed elsewhere",
			obj: simObj("other", byIMSI(imsiB, true), bound(imsiB, msisdnB, true), synced), seen: true,
			others: []*v1alpha1.SIM{simObj("s", v1alpha1.SIMSpec{IMSI: imsiA, MSISDN: msisdnB}, olderBy(time.Hour), bound(imsiA, msisdnA, true), synced, newGeneration)},
			api:    []onomondo.SIM{live(imsiA, msisdnA, true), live(imsiB, msisdnB, true)},
			want:   want{ready: "True/Available", synced: "True/ReconcileSuccess", requeue: time.Minute}},
		{name: "a new number no resource claims is a number change: one PUT",
			obj: simObj("s", v1alpha1.SIMSpec{IMSI: imsiA, MSISDN: msisdnB, SIMSettings: v1alpha1.SIMSettings{Voice: ptr.To(true)}},
				bound(imsiA, msisdnA, true), synced, newGeneration), seen: true,
			api:  []onomondo.SIM{live(imsiA, msisdnA, true)},
			want: want{calls: []string{"PUT " + imsiA}, ready: "True/Available", binding: &v1alpha1.SIMBinding{IMSI: imsiA, MSISDN: msisdnB}, events: []string{"Updated"}, requeue: time.Minute}},
		{name: "a GET answered with something that is not the SIM is ResponseInvalid: retried, never Ready, no write",
			obj: simObj("s", byIMSI(imsiA, true), annotated(v1alpha1.AnnotationObserveFirst, "true")), fail: map[string][]error{"GET": {invalid}},
			want: want{calls: []string{"GET " + imsiA}, synced: "False/ResponseInvalid", ready: "False/ResponseInvalid", finalizer: true,
				events: []string{"SyncFailed"}, requeue: time.Millisecond, progress: "Reconciling/ResponseInvalid"}},
		{name: "a hostile error code and a 40 kB message make a valid reason and a bounded message, terminal",
			obj: simObj("s", byIMSI(imsiA, true)), fail: map[string][]error{"POST": {hostile}},
			want: want{calls: []string{"POST " + imsiA}, synced: "False/BadRequest", terminal: true, finalizer: true, events: []string{"SyncFailed"}}},
		{name: "a rate-limit hold parks the resource for the (capped) wait, without growing its backoff",
			obj: simObj("s", byIMSI(imsiA, false), bound(imsiA, msisdnA, true), synced, newGeneration), seen: true,
			api: []onomondo.SIM{live(imsiA, msisdnA, true)}, fail: map[string][]error{"PUT": {held}},
			want: want{calls: []string{"PUT " + imsiA}, synced: "False/RateLimited", events: []string{"SyncFailed"}, requeue: 4 * time.Minute}},
		{name: "a redirect is not followed: APIRedirected, retried",
			obj: simObj("s", byIMSI(imsiA, true)), fail: map[string][]error{"POST": {redirected}},
			want: want{calls: []string{"POST " + imsiA}, synced: "False/APIRedirected", finalizer: true, events: []string{"SyncFailed"}, requeue: time.Millisecond}},
		{name: "deleting a SIM the key's organisation does not know (imsi_not_found) ends as AlreadyGone",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), deleting), fail: map[string][]error{"DELETE": {imsiUnknown}},
			want: want{calls: []string{"DELETE " + imsiA}, gone: true, events: []string{"AlreadyGone"}}},

		// Claims across managers: the apiserver arbitrates.
		{name: "a new SIM takes its Claim before its first call",
			obj:  simObj("s", byIMSI(imsiA, true)),
			want: want{calls: []string{"POST " + imsiA}, ready: "True/Available", finalizer: true, events: []string{"Created"}, requeue: time.Minute, claim: "s"}},
		{name: "a SIM whose Claim another manager's live resource holds is DuplicateSIM with no call, and looks again later",
			obj: simObj("s", byIMSI(imsiA, true)), claims: []*v1alpha1.Claim{heldBy("holder")},
			others: []*v1alpha1.SIM{simObj("holder", byIMSI(imsiB, true))},
			want:   want{synced: "False/DuplicateSIM", ready: "False/DuplicateSIM", progress: "Stalled/DuplicateSIM", requeue: time.Millisecond, claim: "holder"}},
		{name: "a Claim whose holder the apiserver says is gone is taken over",
			obj: simObj("s", byIMSI(imsiA, true)), claims: []*v1alpha1.Claim{heldBy("ghost")},
			want: want{calls: []string{"POST " + imsiA}, ready: "True/Available", finalizer: true, events: []string{"Created"}, requeue: time.Minute, claim: "s"}},
		{name: "a bound SIM from before claims takes its Claim at its next reconcile, with no call",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, msisdnA, true), synced), seen: true,
			want: want{ready: "True/Available", requeue: time.Minute, claim: "s"}},
		{name: "deleting a SIM deletes it, then lets its Claim go",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), holding, deleting), claims: []*v1alpha1.Claim{heldBy("s")},
			api:  []onomondo.SIM{live(imsiA, "", true)},
			want: want{calls: []string{"DELETE " + imsiA}, gone: true, events: []string{"Deleted"}, claim: "none"}},
		{name: "deleting a SIM another manager's resource holds the Claim on leaves the SIM to it",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), deleting), claims: []*v1alpha1.Claim{heldBy("holder")},
			others: []*v1alpha1.SIM{simObj("holder", byIMSI(imsiB, true))},
			want:   want{gone: true, events: []string{"HandedOver"}, claim: "holder"}},

		{name: "a Claim that cannot be taken for now is retried; nothing is sent",
			obj: simObj("s", byIMSI(imsiA, true)), intercept: claimCall(interceptor.Funcs{Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error {
				return apiserverDown
			}}),
			want: want{err: true}},
		{name: "a deletion whose Claim cannot be let go for now keeps the finalizer",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), holding, deleting), claims: []*v1alpha1.Claim{heldBy("s")},
			api: []onomondo.SIM{live(imsiA, "", true)},
			intercept: claimCall(interceptor.Funcs{Delete: func(context.Context, client.WithWatch, client.Object, ...client.DeleteOption) error {
				return apiserverDown
			}}),
			want: want{calls: []string{"DELETE " + imsiA}, err: true, events: []string{"Deleted"}, claim: "s", finalizer: true}},
		{name: "a status write that fails is returned (the POST stands; no wait for a binding never written)",
			obj: simObj("s", byIMSI(imsiA, false)), intercept: interceptor.Funcs{SubResourcePatch: func(context.Context, client.Client, string, client.Object,
				client.Patch, ...client.SubResourcePatchOption) error {
				return apiserverDown
			}},
			want: want{calls: []string{"POST " + imsiA}, err: true, finalizer: true, events: []string{"Created"}, claim: "s"}},

		// Deletion.
		{name: "deleting a bound SIM deletes it in the API",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), deleting), api: []onomondo.SIM{live(imsiA, "", true)},
			want: want{calls: []string{"DELETE " + imsiA}, gone: true, events: []string{"Deleted"}}},
		{name: "deletion ends when the API says the SIM is gone",
			obj:  simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), deleting),
			want: want{calls: []string{"DELETE " + imsiA}, gone: true, events: []string{"AlreadyGone"}}},
		{name: "a bare 404 keeps the finalizer and is retried",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), deleting), fail: map[string][]error{"DELETE": {bare404}},
			want: want{calls: []string{"DELETE " + imsiA}, synced: "False/NotFound", finalizer: true,
				events: []string{"SyncFailed"}, requeue: time.Millisecond}},
		{name: "deletionPolicy Orphan leaves the SIM",
			obj:  simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), orphan, deleting),
			want: want{gone: true, events: []string{"Orphaned"}}},
		{name: "a SIM another live resource claims is handed over, not deleted",
			obj:    simObj("s", byIMSI(imsiA, true), olderBy(time.Hour), bound(imsiA, "", true), deleting),
			others: []*v1alpha1.SIM{simObj("renamed", byIMSI(imsiA, true), wasDuplicate)},
			want:   want{gone: true, events: []string{"HandedOver"}}},
		{name: "a duplicate being deleted leaves without a call",
			obj:    simObj("s", byIMSI(imsiA, true), withFinalizer, deleting),
			others: []*v1alpha1.SIM{simObj("owner", byIMSI(imsiA, true), olderBy(time.Hour), bound(imsiA, "", true))},
			want:   want{gone: true}},
		{name: "a resource never bound leaves without a call",
			obj:  simObj("s", byIMSI(imsiA, true), withFinalizer, deleting),
			want: want{gone: true}},
		{name: "an observe-only resource leaves without a call",
			obj:  simObj("s", byIMSI(imsiA, true), observeOnly, bound(imsiA, "", true), deleting),
			want: want{gone: true}},
		{name: "a resource without the operator's finalizer is left alone",
			obj:  simObj("s", byIMSI(imsiA, true), deleting),
			want: want{}},
		{name: "a claim lookup that fails during deletion is an error",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), deleting), intercept: listFails,
			want: want{finalizer: true, err: true}},
		{name: "removing the finalizer failing is an error: the deletion runs again",
			obj: simObj("s", byIMSI(imsiA, true), bound(imsiA, "", true), orphan, deleting), intercept: patchFails,
			want: want{finalizer: true, events: []string{"Orphaned"}, err: true}},
		{name: "the finalizer patch failing is an error",
			obj: simObj("s", byIMSI(imsiA, true)), intercept: patchFails, want: want{err: true}},
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) { tc.run(t) })
	}
}

func (tc row) run(t *testing.T) {
	t.Helper()
	api := &fakeSIMAPI{sims: tc.api, fail: tc.fail}
	if api.fail == nil {
		api.fail = map[string][]error{}
	}
	objs := []client.Object{tc.obj}
	for _, o := range tc.others {
		objs = append(objs, o)
	}
	for _, o := range tc.claims {
		objs = append(objs, o)
	}
	c := fakeClient(tc.intercept, objs...)
	rec := &fakeRecorder{}
	r := newSIMReconciler(c, api, rec, ManagedOptions{SyncPeriod: time.Hour, MinBackoff: time.Millisecond, MaxBackoff: time.Second})
	r.accounts = tc.accounts
	r.claims = &claimStore{client: c, reader: c}
	if tc.seen {
		r.schedule.Synced(client.ObjectKeyFromObject(tc.obj), accountOf(tc.obj))
	}

	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(tc.obj)})
	w := tc.want
	if (err != nil) != w.err {
		t.Fatalf("Reconcile error = %v, want error %t", err, w.err)
	}
	if !slices.Equal(api.calls, w.calls) {
		t.Errorf("calls %q, want %q", api.calls, w.calls)
	}
	// The resource comes back by its own requeue (a retry) or by the
	// schedule's drift pump (a drift check), never both; a reconcile that
	// fails comes back by the workqueue's backoff.
	next := res.RequeueAfter
	drift, driftScheduled := r.schedule.DriftIn(client.ObjectKeyFromObject(tc.obj))
	if driftScheduled && err == nil {
		if next != 0 {
			t.Errorf("requeue after %s and a drift check in %s: want one of them", next, drift)
		}
		next = drift
	}
	switch {
	case w.requeue == 0 && next != 0:
		t.Errorf("back after %s, want never", next)
	case w.requeue != 0 && next < w.requeue:
		t.Errorf("back after %s, want at least %s", next, w.requeue)
	}
	if !slices.Equal(rec.reasons, w.events) {
		t.Errorf("events %q, want %q", rec.reasons, w.events)
	}
	var got v1alpha1.SIM
	err = c.Get(context.Background(), client.ObjectKeyFromObject(tc.obj), &got)
	if gone := apierrors.IsNotFound(err); gone != w.gone {
		t.Fatalf("gone = %t (%v), want %t", gone, err, w.gone)
	}
	checkClaim(t, c, w.claim)
	if w.gone {
		return
	}
	checkCondition(t, &got, v1alpha1.ConditionReady, w.ready)
	checkCondition(t, &got, v1alpha1.ConditionSynced, w.synced)
	if w.binding != nil && (got.Status.Binding == nil || *got.Status.Binding != *w.binding) {
		t.Errorf("binding %+v, want %+v", got.Status.Binding, w.binding)
	}
	if terminal := got.Status.LastError != nil && got.Status.LastError.Terminal; terminal != w.terminal {
		t.Errorf("terminal = %t, want %t (%+v)", terminal, w.terminal, got.Status.LastError)
	}
	if has := slices.Contains(got.Finalizers, Finalizer); has != (w.finalizer || slices.Contains(tc.obj.Finalizers, Finalizer)) {
		t.Errorf("finalizers %q", got.Finalizers)
	}
	if w.handled != "" && got.Status.LastHandledRequestedAt != w.handled {
		t.Errorf("lastHandledRequestedAt %q, want %q", got.Status.LastHandledRequestedAt, w.handled)
	}
	// A synced resource waits for its next drift check in the schedule (the
	// pump queues it at low priority, behind user intents), not in the
	// workqueue; a retry requeues itself at its own priority.
	synced := meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionSynced)
	if synced && res.RequeueAfter > 0 && res.RequeueAfter != staleCacheWait {
		t.Errorf("synced, yet requeued after %s: the drift check belongs to the schedule", res.RequeueAfter)
	}
	if res.Priority != nil {
		t.Errorf("requeue at priority %d: only the drift pump lowers a priority", *res.Priority)
	}
	if w.progress != "" {
		checkProgress(t, &got, w.progress)
	}
}

// checkClaim checks who holds imsiA's Claim ("none": nobody).
func checkClaim(t *testing.T, c client.Client, want string) {
	t.Helper()
	if want == "" {
		return
	}
	var claim v1alpha1.Claim
	err := c.Get(context.Background(), client.ObjectKey{Name: claimOfA}, &claim)
	switch {
	case want == "none" && !apierrors.IsNotFound(err):
		t.Errorf("imsiA's Claim is held by %+v, want none", claim.Spec.Holder)
	case want != "none" && (err != nil || claim.Spec.Holder.Name != want):
		t.Errorf("imsiA's Claim is held by %+v (%v), want %s", claim.Spec.Holder, err, want)
	}
}

// claimOfA is the Claim on imsiA in the default account's organisation, as
// the table's reconciler (no accounts) names it.
var claimOfA = claimName("account:", "SIM", "imsi:"+imsiA)

// heldBy is imsiA's Claim held by ns/name with that name's table UID.
func heldBy(name string) *v1alpha1.Claim {
	return &v1alpha1.Claim{ObjectMeta: metav1.ObjectMeta{Name: claimOfA}, Spec: v1alpha1.ClaimSpec{
		Organisation: "account:", Kind: "SIM", Identifier: "imsi:" + imsiA,
		Holder: v1alpha1.ClaimHolder{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)}}}
}

// waitingForNumber: the last reconcile refused a number another resource claimed.
func waitingForNumber(s *v1alpha1.SIM) {
	s.Status.LastError = &v1alpha1.APIErrorStatus{Message: "claimed"}
	setCondition(s, v1alpha1.ConditionSynced, metav1.ConditionFalse, ReasonIdentityMismatch, "claimed")
}

// holding records imsiA's Claim as held in status.
func holding(s *v1alpha1.SIM) { s.Status.Claim = claimOfA }

// checkProgress checks the one kstatus condition present ("none": neither).
func checkProgress(t *testing.T, s *v1alpha1.SIM, want string) {
	t.Helper()
	var got []string
	for _, typ := range []string{v1alpha1.ConditionReconciling, v1alpha1.ConditionStalled} {
		if c := meta.FindStatusCondition(s.Status.Conditions, typ); c != nil {
			got = append(got, fmt.Sprintf("%s/%s", typ, c.Reason))
		}
	}
	if (want == "none" && len(got) > 0) || (want != "none" && !slices.Equal(got, []string{want})) {
		t.Errorf("kstatus conditions %q, want %s", got, want)
	}
}

func checkCondition(t *testing.T, s *v1alpha1.SIM, typ, want string) {
	t.Helper()
	if want == "" {
		return
	}
	c := meta.FindStatusCondition(s.Status.Conditions, typ)
	if c == nil || fmt.Sprintf("%s/%s", c.Status, c.Reason) != want {
		t.Errorf("%s = %+v, want %s", typ, c, want)
		return
	}
	if c.ObservedGeneration != s.Generation {
		t.Errorf("%s describes generation %d of %d", typ, c.ObservedGeneration, s.Generation)
	}
}

// fakeClient is controller-runtime's fake client with this package's
// indexes and the status subresource.
func fakeClient(intercept interceptor.Funcs, objs ...client.Object) client.WithWatch {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	return fake.NewClientBuilder().WithScheme(scheme).
		WithStatusSubresource(&v1alpha1.SIM{}, &v1alpha1.Connector{}, &v1alpha1.SMSMessage{}).
		WithIndex(&v1alpha1.SIM{}, apiIDIndex, func(o client.Object) []string {
			return bucketsOf(simClaimKeys(o.(*v1alpha1.SIM)))
		}).
		WithIndex(&v1alpha1.SIM{}, requestedIndex, func(o client.Object) []string {
			return bucketsOf(simExternal{}.requestedKeys(o.(*v1alpha1.SIM)))
		}).
		WithIndex(&v1alpha1.Connector{}, apiIDIndex, func(o client.Object) []string {
			return bucketsOf(connectorExternal{}.identity(o.(*v1alpha1.Connector)).Keys)
		}).
		WithIndex(&v1alpha1.SMSMessage{}, smsSIMRefIndex, func(o client.Object) []string {
			if ref := o.(*v1alpha1.SMSMessage).Spec.SIMRef; ref != nil {
				return []string{ref.Name}
			}
			return nil
		}).
		WithInterceptorFuncs(intercept).
		WithObjects(objs...).Build()
}

func TestAReconcileOfAResourceThatIsGoneDoesNothing(t *testing.T) {
	api := &fakeSIMAPI{fail: map[string][]error{}}
	r := newSIMReconciler(fakeClient(interceptor.Funcs{}), api, nil, ManagedOptions{})
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "gone"}})
	if err != nil || !res.IsZero() || len(api.calls) > 0 {
		t.Fatalf("result %+v, error %v, calls %q", res, err, api.calls)
	}
}

func TestAReconcileWritesStatusAloneAndOnlyWhenItChanged(t *testing.T) {
	var patches []string
	capture := interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
		data, err := p.Data(obj)
		if err != nil {
			return err
		}
		patches = append(patches, string(data))
		return c.SubResource(sub).Patch(ctx, obj, p, opts...)
	}}
	obj := simObj("s", byIMSI(imsiA, true))
	c := fakeClient(capture, obj)
	r := newSIMReconciler(c, &fakeSIMAPI{fail: map[string][]error{}}, nil, ManagedOptions{SyncPeriod: time.Hour})
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(obj)}
	if _, err := r.Reconcile(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(patches) != 1 || !strings.HasPrefix(patches[0], `{"status":`) || strings.Contains(patches[0], "resourceVersion") ||
		strings.Contains(patches[0], "finalizers") {
		t.Fatalf("status patches %q: want one, of status alone (no resourceVersion: no optimistic lock)", patches)
	}
	if _, err := r.Reconcile(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(patches) != 1 {
		t.Fatalf("a reconcile that changed nothing wrote status: %q", patches[1:])
	}
}

func TestAReconcileOfACopyOlderThanItsOwnCreateWaitsForTheCache(t *testing.T) {
	obj := simObj("s", byIMSI(imsiA, true))
	stale := obj.DeepCopy()
	var staleReads bool
	c := fakeClient(interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, o client.Object, opts ...client.GetOption) error {
		if err := c.Get(ctx, key, o, opts...); err != nil || !staleReads {
			return err
		}
		fresh := o.(*v1alpha1.SIM)
		stale.ResourceVersion, stale.UID, stale.Finalizers = fresh.ResourceVersion, fresh.UID, fresh.Finalizers
		stale.DeepCopyInto(fresh) // the cache has not seen the status write yet
		return nil
	}}, obj)
	api := &fakeSIMAPI{fail: map[string][]error{}}
	r := newSIMReconciler(c, api, nil, ManagedOptions{SyncPeriod: time.Hour})
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(obj)}
	if _, err := r.Reconcile(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	staleReads = true
	res, err := r.Reconcile(context.Background(), req)
	if err != nil || res.RequeueAfter != staleCacheWait {
		t.Fatalf("result %+v, %v; want a short wait for the cache", res, err)
	}
	staleReads = false
	if _, err := r.Reconcile(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(api.calls, []string{"POST " + imsiA}) {
		t.Fatalf("calls %q, want one POST: a stale copy is no reason to create again", api.calls)
	}
}

// A binding this process wrote is remembered only until the cache shows it:
// a fleet created at once leaves nothing behind for its drift period.
func TestABindingIsForgottenOnceTheCacheShowsIt(t *testing.T) {
	obj := simObj("s", byIMSI(imsiA, true))
	c := fakeClient(interceptor.Funcs{}, obj)
	r := newSIMReconciler(c, &fakeSIMAPI{fail: map[string][]error{}}, nil, ManagedOptions{SyncPeriod: time.Hour})
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(obj)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.justBound.Load(client.ObjectKeyFromObject(obj)); !ok {
		t.Fatal("the binding just written is not remembered: a stale copy could create again")
	}
	var got v1alpha1.SIM
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), &got); err != nil {
		t.Fatal(err)
	}
	r.cacheCaughtUp().Update(context.Background(), event.UpdateEvent{ObjectOld: obj, ObjectNew: &got}, nil)
	if _, ok := r.justBound.Load(client.ObjectKeyFromObject(obj)); ok {
		t.Fatal("the binding is still remembered after the cache showed it")
	}
}
