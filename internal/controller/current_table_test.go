package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// The decision table of a SIM on a Current account, with a recording fake
// of the current API: bound from the account's list, one PATCH of what
// differs, no create, deactivation on deletion, the other edition refused.

type fakeCurrentAPI struct {
	fakeSIMAPI
	sims  map[string]onomondo.CurrentSIM
	tags  []onomondo.Tag
	calls []string
}

func (f *fakeCurrentAPI) Current() bool { return true }

func (f *fakeCurrentAPI) ListSIMs(context.Context, string, int) (*onomondo.SIMPage, error) {
	f.calls = append(f.calls, "LIST")
	page := &onomondo.SIMPage{}
	for _, s := range f.sims {
		page.SIMs = append(page.SIMs, s)
	}
	return page, nil
}

func (f *fakeCurrentAPI) GetCurrentSIM(_ context.Context, id string) (*onomondo.CurrentSIM, error) {
	f.calls = append(f.calls, "GET "+id)
	if s, ok := f.sims[id]; ok {
		return &s, nil
	}
	return nil, &onomondo.APIError{StatusCode: 404, Code: onomondo.CodeSIMNotFound}
}

func (f *fakeCurrentAPI) PatchSIM(_ context.Context, id string, p onomondo.SIMPatch) (*onomondo.CurrentSIM, error) {
	f.calls = append(f.calls, "PATCH "+id)
	s := f.sims[id]
	if p.Activated != nil {
		s.Activated = *p.Activated
	}
	if p.Label != nil {
		s.Label = p.Label
		if *p.Label == "" {
			s.Label = nil
		}
	}
	f.sims[id] = s
	return &s, nil
}

func (f *fakeCurrentAPI) ListTags(context.Context) ([]onomondo.Tag, error) {
	f.calls = append(f.calls, "TAGS")
	return f.tags, nil
}

func currentSIM(name string, change func(*v1alpha1.SIM)) *v1alpha1.SIM {
	s := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Generation: 1,
		CreationTimestamp: created}, Spec: v1alpha1.SIMSpec{SIMID: "000000001"}}
	s.Spec.DeletionPolicy, s.Spec.ManagementPolicy = v1alpha1.DeletionPolicyDelete, v1alpha1.ManagementPolicyManage
	if change != nil {
		change(s)
	}
	return s
}

func TestCurrentSIMDecisionTable(t *testing.T) {
	card := onomondo.CurrentSIM{ID: "000000001", ICCID: "89457387300000000011", Activated: true, Label: ptr.To("old")}
	for _, tc := range []struct {
		name           string
		obj            *v1alpha1.SIM
		calls          []string
		synced, ready  string
		events         []string
		gone, terminal bool
	}{
		{name: "a SIM already as the spec says is bound from the account's list: one list, no write",
			obj:   currentSIM("s", func(s *v1alpha1.SIM) { s.Spec.Label = ptr.To("old") }),
			calls: []string{"LIST"}, synced: "True/ReconcileSuccess", ready: "True/Available", events: []string{"Adopted"}},
		{name: "a SIM that differs: one PATCH of what differs",
			obj:   currentSIM("s", func(s *v1alpha1.SIM) { s.Spec.Label = ptr.To("new"); s.Spec.Activated = ptr.To(true) }),
			calls: []string{"LIST", "PATCH 000000001"}, synced: "True/ReconcileSuccess", ready: "True/Available", events: []string{"Adopted", "Updated"}},
		{name: "a SIM the account lacks is read once by ID, then SIMNotFound, with no create",
			obj:   currentSIM("s", func(s *v1alpha1.SIM) { s.Spec.SIMID = "000000009" }),
			calls: []string{"LIST", "GET 000000009"}, synced: "False/SIMNotFound", terminal: true, events: []string{"SyncFailed"}},
		{name: "a field of the Legacy edition is refused with no call",
			obj:    currentSIM("s", func(s *v1alpha1.SIM) { s.Spec.Voice = ptr.To(true) }),
			synced: "False/NotInEdition", terminal: true, events: []string{"SyncFailed"}},
		{name: "an unknown tag is TagNotFound, terminal",
			obj:   currentSIM("s", func(s *v1alpha1.SIM) { s.Spec.Tags = []string{"nope"} }),
			calls: []string{"LIST", "TAGS", "TAGS"}, synced: "False/TagNotFound", terminal: true, events: []string{"Adopted", "SyncFailed"}},
		{name: "deletion deactivates the SIM, never removes it",
			obj: currentSIM("s", func(s *v1alpha1.SIM) {
				s.Finalizers = []string{Finalizer}
				s.Status.Binding = &v1alpha1.SIMBinding{SIMID: "000000001", ICCID: card.ICCID}
				now := metav1.NewTime(created.Add(time.Hour))
				s.DeletionTimestamp = &now
			}),
			calls: []string{"PATCH 000000001"}, gone: true, events: []string{"Deleted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeCurrentAPI{fakeSIMAPI: fakeSIMAPI{fail: map[string][]error{}},
				sims: map[string]onomondo.CurrentSIM{card.ID: card}, tags: []onomondo.Tag{{ID: "t1", Name: "fleet-eu"}}}
			c := fakeClient(interceptor.Funcs{}, tc.obj)
			rec := &fakeRecorder{}
			r := newSIMReconciler(c, api, rec, ManagedOptions{SyncPeriod: time.Hour, MinBackoff: time.Millisecond, MaxBackoff: time.Second})
			r.claims = &claimStore{client: c, reader: c}
			if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(tc.obj)}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(api.calls, tc.calls) || len(api.fakeSIMAPI.calls) > 0 {
				t.Errorf("calls %q (legacy %q), want %q", api.calls, api.fakeSIMAPI.calls, tc.calls)
			}
			if !slices.Equal(rec.reasons, tc.events) {
				t.Errorf("events %q, want %q", rec.reasons, tc.events)
			}
			var got v1alpha1.SIM
			err := c.Get(context.Background(), client.ObjectKeyFromObject(tc.obj), &got)
			if tc.gone {
				if err == nil {
					t.Error("the resource is still there")
				}
				if api.sims[card.ID].Activated {
					t.Error("the SIM is still activated")
				}
				return
			}
			checkCondition(t, &got, v1alpha1.ConditionSynced, tc.synced)
			checkCondition(t, &got, v1alpha1.ConditionReady, tc.ready)
			if terminal := got.Status.LastError != nil && got.Status.LastError.Terminal; terminal != tc.terminal {
				t.Errorf("terminal = %t, want %t (%+v)", terminal, tc.terminal, got.Status.LastError)
			}
		})
	}
}

// A SIM's drift check on a Current account reads a share of its account's
// list (1,000 SIMs a call), so 10,000 SIMs at the hosted 10 calls/s keep a
// one-minute drift period; on a Legacy account each check is one GET, and
// the same fleet stretches its period to 10,000 ÷ 5/s.
func TestACurrentFleetsDriftPeriodIsPricedByTheListNotPerSIM(t *testing.T) {
	for _, tc := range []struct {
		current bool
		want    time.Duration
	}{{current: true, want: time.Minute}, {current: false, want: 2000 * time.Second}} {
		r := newSIMReconciler(fakeClient(interceptor.Funcs{}), &fakeCurrentAPI{}, &fakeRecorder{}, ManagedOptions{SyncPeriod: time.Minute})
		r.accounts = fakeAccounts{rate: 10, current: tc.current}
		for i := range 10000 {
			r.schedule.Synced(types.NamespacedName{Namespace: "ns", Name: fmt.Sprint("sim-", i)}, "Account/ns/fleet")
		}
		if got := r.schedule.Effective()["Account/ns/fleet"]; got != tc.want {
			t.Errorf("current=%v: drift period %s, want %s", tc.current, got, tc.want)
		}
	}
}
