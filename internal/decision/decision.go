// Package decision is the operator's choice about one managed resource:
// what one reconcile does, made from facts by one pure function. The
// reconciler (internal/controller) gathers the facts and carries out the
// action; `kubectl sim diff` gathers the same facts (after the same read)
// and prints the action, so the preview and the operator cannot disagree.
package decision

import "cmp"

// Action is the one thing a reconcile does about a resource.
type Action int

const (
	// Nothing: in sync, or not due for a check; no call.
	Nothing Action = iota
	// Paused: the resource is paused; no call.
	Paused
	// Refuse: refused before any write (its account, a field of the
	// other edition, a duplicate, another object than the bound one, a
	// card the account does not have); the refusal is in Facts.
	Refuse
	// Parked: this generation failed with a terminal error; only a
	// spec change or a sync request is worth another call.
	Parked
	// Wait: the cache is older than this process's own binding; wait
	// for it rather than create again.
	Wait
	// Create: one POST (a create answered "exists" adopts instead).
	Create
	// Adopt: read the object the resource names, bind it, then write
	// only what differs.
	Adopt
	// Update: write the spec (PUT or PATCH).
	Update
	// Check: read the bound object and correct what differs (a drift
	// check, a sync request, a binding that lacks a needed identifier).
	Check
	// ApplyPending: a spec change this process finds pending the first
	// time it sees the resource (after a restart its predecessor may have
	// written it): read first, write only if it still differs.
	ApplyPending
	// Observe: observe only: read and report, never write.
	Observe
)

var actionNames = [...]string{"Nothing", "Paused", "Refuse", "Parked", "Wait", "Create", "Adopt", "Update", "Check", "ApplyPending", "Observe"}

func (a Action) String() string { return actionNames[a] }

// Facts are what a decision is made on, in the order it weighs them. The
// reconciler stops gathering once a fact settles the decision (no claim
// lookup for a resource its account refuses).
type Facts struct {
	// Paused: the paused annotation is set.
	Paused bool
	// Refusal refuses the resource before any call: its account, a field
	// of the other edition, another resource's claim on its object.
	Refusal error
	// SyncRequested: a sync request not handled yet.
	SyncRequested bool
	// Parked: the last attempt at this generation failed terminally.
	Parked bool
	// ObserveOnly: the management policy never writes.
	ObserveOnly bool
	// NewGeneration: the spec changed since status was last written.
	NewGeneration bool
	// StaleCache: this process bound the object but the copy read shows
	// no binding yet.
	StaleCache bool
	// Bound: status records which object the resource manages.
	Bound bool
	// MayExist: the object may be in the API already (seen, imported,
	// observe-first): taking it over starts with a read, not a POST.
	MayExist bool
	// IdentityError: the spec names another object than the bound one.
	IdentityError error
	// NeedsRead: the binding lacks something needed now.
	NeedsRead bool
	// UpToDate: the model of the object (status.atProvider, or a fresh
	// read) matches the spec.
	UpToDate bool
	// Seen: this process has reconciled the resource before (a fresh
	// process, after a restart or failover, has not).
	Seen bool
	// DriftDue: the resource's drift check is due.
	DriftDue bool

	// Read: the facts below come from a read made just now.
	Read bool
	// Exists: the API has the object (its own not-found answer says not).
	Exists bool
	// Creatable: the kind can create the object (a SIM card of the current
	// API cannot be: one the account lacks is refused).
	Creatable bool
	// CreateRefused is a create's "exists" answer that led to the read: an
	// object still not found means the conflict was over something else.
	CreateRefused error
}

// WithRead are the facts f and what a read just found (r, from the same
// read the reconciler makes): what is weighed once the object was read.
func (f Facts) WithRead(r Facts) Facts {
	f.Read, f.Exists, f.Creatable, f.UpToDate = true, r.Exists, r.Creatable, r.UpToDate
	f.Refusal = cmp.Or(f.Refusal, r.Refusal)
	return f
}

// Decide is the operator's choice, and the only place it is made.
func Decide(f Facts) Action {
	switch {
	case f.Paused:
		return Paused
	case f.Refusal != nil:
		return Refuse
	case f.Read:
		return decideAfterRead(f)
	case f.Parked && !f.SyncRequested:
		return Parked
	case f.ObserveOnly && (f.SyncRequested || f.DriftDue || f.NewGeneration):
		return Observe
	case f.ObserveOnly:
		return Nothing
	case f.StaleCache:
		return Wait
	case !f.Bound && !f.MayExist:
		return Create
	case !f.Bound:
		return Adopt
	case f.IdentityError != nil:
		return Refuse
	case f.SyncRequested || f.NeedsRead:
		return Check
	case !f.UpToDate && f.Seen:
		return Update
	case !f.UpToDate:
		return ApplyPending
	case f.DriftDue:
		return Check
	}
	return Nothing
}

// Background reports whether the decision is a periodic check nobody waits
// for (a drift check, an observe-only re-read): its calls yield to every
// other call of the account's budget (onomondo.Background), so a user's
// change is not queued behind a wall of drift corrections.
func Background(act Action, f Facts) bool {
	return (act == Check || act == Observe) && f.DriftDue && !f.SyncRequested && !f.NeedsRead && !f.NewGeneration
}

// decideAfterRead: the object was just read. Observe-only reports it.
// Gone, it is created again (unless the kind cannot create it, or a create
// just said it exists); there, it is written only if it differs from the
// spec.
func decideAfterRead(f Facts) Action {
	switch {
	case f.ObserveOnly && f.IdentityError != nil:
		return Refuse
	case f.ObserveOnly:
		return Observe // whatever it found: observe-only reports, never writes
	case !f.Exists && (!f.Creatable || f.CreateRefused != nil):
		return Refuse
	case !f.Exists:
		return Create
	case f.IdentityError != nil:
		return Refuse
	case f.UpToDate:
		return Nothing
	}
	return Update
}
