package controller

import (
	"slices"
	"testing"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// What each kind's recorded observation says, with no call: the diff a
// write would make (nothing else), and whether the resource is bound.
func TestARecordedObservationDiffersOnlyWhereTheSpecSetsSomething(t *testing.T) {
	nl := func(networks []v1alpha1.NetworkRef, tags []string, observed *v1alpha1.NetworkListObservation) *v1alpha1.NetworkList {
		n := &v1alpha1.NetworkList{Spec: v1alpha1.NetworkListSpec{Name: "eu", Networks: networks, Tags: tags}}
		n.Status.AtProvider = observed
		return n
	}
	dk := []v1alpha1.NetworkRef{{MCC: "238", MNC: "01"}, {MCC: "240"}}
	hook := func(active *bool, tags []string, observed *v1alpha1.WebhookObservation) *v1alpha1.Webhook {
		w := &v1alpha1.Webhook{Spec: v1alpha1.WebhookSpec{URL: "https://a.example", Label: "fleet", Active: active, Tags: tags}}
		w.Status.AtProvider = observed
		if observed != nil {
			w.Status.ID = "wh-1"
		}
		return w
	}
	seen := &v1alpha1.WebhookObservation{URL: "https://a.example", Label: "fleet", Active: true, Tags: []string{"a"}}
	off := false
	for _, tc := range []struct {
		name   string
		got    Observation
		exists bool
		bound  bool
		diff   []string
	}{
		{"a list never observed is neither there nor bound", networkListExternal{}.recorded(nl(dk, nil, nil)), false, false, nil},
		{"a list's networks in another order are the same list", networkListExternal{}.recorded(nl(dk, nil,
			&v1alpha1.NetworkListObservation{Networks: []v1alpha1.NetworkRef{{MCC: "240"}, {MCC: "238", MNC: "01"}}, Tags: []string{}})), true, true, nil},
		{"a list missing a network differs in its networks", networkListExternal{}.recorded(nl(dk, nil,
			&v1alpha1.NetworkListObservation{Networks: []v1alpha1.NetworkRef{{MCC: "240"}}})), true, true, []string{"networks: [240-] → [238-01 240-]"}},
		{"a list's tags differ only when the spec manages them", networkListExternal{}.recorded(nl(dk, []string{"b", "a"},
			&v1alpha1.NetworkListObservation{Networks: dk, Tags: []string{"a"}})), true, true, []string{"tags: [a] → [a b]"}},
		{"an empty tag list is managed: the list's tags go", networkListExternal{}.recorded(nl(dk, []string{},
			&v1alpha1.NetworkListObservation{Networks: dk, Tags: []string{"a"}})), true, true, []string{"tags: [a] → []"}},
		{"a webhook never found is neither there nor bound", webhookExternal{}.recorded(hook(nil, nil, nil)), false, false, nil},
		{"a webhook as the spec says (active by default, tags unmanaged)", webhookExternal{}.recorded(hook(nil, nil, seen)), true, true, nil},
		{"a webhook to deactivate differs in active", webhookExternal{}.recorded(hook(&off, nil, seen)), true, true, []string{"active: true → false"}},
		{"a webhook's managed tags differ", webhookExternal{}.recorded(hook(nil, []string{"b"}, seen)), true, true, []string{"tags: [a] → [b]"}},
	} {
		if tc.got.Exists != tc.exists || tc.got.Bound != tc.bound || !slices.Equal(tc.got.Diff, tc.diff) {
			t.Errorf("%s: exists %t, bound %t, diff %q; want %t, %t, %q", tc.name, tc.got.Exists, tc.got.Bound, tc.got.Diff, tc.exists, tc.bound, tc.diff)
		}
		if tc.got.UpToDate() != (tc.exists && len(tc.diff) == 0) {
			t.Errorf("%s: up to date %t", tc.name, tc.got.UpToDate())
		}
	}
}
