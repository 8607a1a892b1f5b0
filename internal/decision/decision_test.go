package decision

import (
	"errors"
	"testing"
)

// The operator's choice, fact by fact: each row is one rule of Decide, the
// function the reconciler and kubectl sim diff share.
func TestDecide(t *testing.T) {
	refused, mismatch := errors.New("refused"), errors.New("another SIM")
	bound := Facts{Bound: true, UpToDate: true, Seen: true}
	with := func(f Facts, change func(*Facts)) Facts { change(&f); return f }
	for _, tc := range []struct {
		rule string
		f    Facts
		want Action
	}{
		{"a paused resource makes no call, whatever else holds", Facts{Paused: true, Refusal: refused, SyncRequested: true}, Paused},
		{"a refusal (account, edition, claim) comes before anything else", Facts{Refusal: refused, SyncRequested: true}, Refuse},
		{"a terminal error of this generation parks the resource", with(bound, func(f *Facts) { f.Parked = true; f.UpToDate = false }), Parked},
		{"a sync request unparks it: one read", with(bound, func(f *Facts) { f.Parked, f.SyncRequested = true, true }), Check},
		{"observe-only reads when due", Facts{ObserveOnly: true, DriftDue: true}, Observe},
		{"observe-only reads on a sync request", Facts{ObserveOnly: true, SyncRequested: true}, Observe},
		{"observe-only reads a new generation", Facts{ObserveOnly: true, NewGeneration: true, Bound: true}, Observe},
		{"observe-only does nothing otherwise, even when it differs", Facts{ObserveOnly: true, Bound: true}, Nothing},
		{"a copy older than this process's own binding waits for the cache", Facts{StaleCache: true}, Wait},
		{"an unbound resource whose object cannot exist yet is created: one POST, no GET", Facts{}, Create},
		{"an unbound resource whose object may exist is adopted: read first", Facts{MayExist: true}, Adopt},
		{"a bound resource naming another object is refused", with(bound, func(f *Facts) { f.IdentityError = mismatch }), Refuse},
		{"a sync request reads the bound object", with(bound, func(f *Facts) { f.SyncRequested = true }), Check},
		{"a binding lacking a needed identifier reads", with(bound, func(f *Facts) { f.NeedsRead = true }), Check},
		{"a spec change this process saw before is written at once", with(bound, func(f *Facts) { f.UpToDate = false }), Update},
		{"a spec change found pending after a restart reads first", with(bound, func(f *Facts) { f.UpToDate, f.Seen = false, false }), ApplyPending},
		{"a due drift check reads", with(bound, func(f *Facts) { f.DriftDue = true }), Check},
		{"in sync and not due: nothing", bound, Nothing},

		{"after a read: gone, it is created again", Facts{Read: true, Creatable: true}, Create},
		{"after a read: gone and not creatable (a card of the current API), refused", Facts{Read: true}, Refuse},
		{"after a read: gone although a create said it exists, the conflict stands", Facts{Read: true, Creatable: true, CreateRefused: refused}, Refuse},
		{"after a read: a claim or the binding refuses what it names", Facts{Read: true, Exists: true, Refusal: refused}, Refuse},
		{"after a read: another object than the bound one is refused", Facts{Read: true, Exists: true, IdentityError: mismatch}, Refuse},
		{"after a read: observe-only reports, never writes", Facts{Read: true, Exists: true, ObserveOnly: true}, Observe},
		{"after a read: observe-only reports an object that is gone, never creates it", Facts{Read: true, Creatable: true, ObserveOnly: true}, Observe},
		{"after a read: observe-only of another object than the bound one is refused", Facts{Read: true, Exists: true, ObserveOnly: true, IdentityError: mismatch}, Refuse},
		{"after a read: matching, nothing is written", Facts{Read: true, Exists: true, UpToDate: true}, Nothing},
		{"after a read: differing, the spec is written once", Facts{Read: true, Exists: true}, Update},

		{"a sync request's read (and kubectl sim diff's) that finds it differing writes it",
			with(bound, func(f *Facts) { f.SyncRequested = true }).WithRead(Facts{Exists: true, Creatable: true}), Update},
		{"a read that finds it gone creates it again", with(bound, func(f *Facts) { f.SyncRequested = true }).WithRead(Facts{Creatable: true}), Create},
		{"a read keeps what was refused before it", Facts{Refusal: refused}.WithRead(Facts{Exists: true, UpToDate: true}), Refuse},
		{"a read's own refusal (a card the account lacks) stands", Facts{SyncRequested: true}.WithRead(Facts{Refusal: refused}), Refuse},
		{"observe-only stays observe-only after a read", Facts{ObserveOnly: true, SyncRequested: true}.WithRead(Facts{Exists: true}), Observe},
	} {
		if got := Decide(tc.f); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.rule, got, tc.want)
		}
	}
}

// Only a check nobody asked for waits behind other calls for the budget.
func TestOnlyAnUnaskedCheckIsBackgroundWork(t *testing.T) {
	due := Facts{Bound: true, UpToDate: true, Seen: true, DriftDue: true}
	for _, tc := range []struct {
		rule string
		f    Facts
		want bool
	}{
		{"a due drift check", due, true},
		{"an observe-only re-read when due", Facts{ObserveOnly: true, DriftDue: true}, true},
		{"a sync request", Facts{Bound: true, UpToDate: true, DriftDue: true, SyncRequested: true}, false},
		{"a read a waiting message needs", Facts{Bound: true, UpToDate: true, DriftDue: true, NeedsRead: true}, false},
		{"a spec change", Facts{Bound: true, Seen: true, DriftDue: true}, false},
		{"a pending change after a restart", Facts{Bound: true, DriftDue: true}, false},
		{"an observe-only resource's new generation", Facts{ObserveOnly: true, DriftDue: true, NewGeneration: true}, false},
		{"a create", Facts{DriftDue: true}, false},
	} {
		if got := Background(Decide(tc.f), tc.f); got != tc.want {
			t.Errorf("%s (%s): background %t, want %t", tc.rule, Decide(tc.f), got, tc.want)
		}
	}
}

// Every action has its own name, as logs and kubectl sim diff print it.
func TestEveryActionHasItsOwnName(t *testing.T) {
	seen := map[string]bool{}
	for a := Nothing; a <= Observe; a++ {
		if name := a.String(); name == "" || seen[name] {
			t.Errorf("action %d is named %q", int(a), name)
		} else {
			seen[name] = true
		}
	}
	if len(seen) != len(actionNames) {
		t.Errorf("%d actions named, %d names", len(seen), len(actionNames))
	}
}
