package controller

import (
	"context"
	"fmt"
	"slices"

	"github.com/sim-operator/sim-operator/internal/decision"
)

// Observation is what the operator knows of a resource's object in the
// API, as a value: from a read or a write just made (observe, create,
// update return it), or, with no call, from the last one status records
// (recorded). The engine decides from observations; it never asks the kind
// about status again.
type Observation struct {
	// Exists: the API has the object (a read found it, a write was
	// accepted), or status records it from an earlier read or write.
	Exists bool
	// Bound: status records which object the resource manages.
	Bound bool
	// Diff are the changes a write would make, one "field: observed →
	// wanted" each; empty when the object matches the spec.
	Diff []string
	// Description summarizes the observed object, for events and conditions.
	Description string
}

// UpToDate: the object exists and matches the spec.
func (o Observation) UpToDate() bool { return o.Exists && len(o.Diff) == 0 }

// identity is how a resource names its object: what the engine addresses,
// claims and logs it by.
type identity struct {
	// ID addresses the object in the API: the binding once there is one,
	// else the identifier the spec names.
	ID string
	// Claim is the identifier the resource's Claim is on, across managers:
	// the one it addresses its object by now ("imsi:…", "id:…").
	Claim string
	// Keys are every identifier the resource names, is bound to or has
	// observed: two resources reaching one object by different identifiers
	// meet in the index.
	Keys []string
	// Log identifies the object in every log line (a SIM's IMSI and MSISDN).
	Log []any
}

// readObject reads obj's object through ext and says what the read found:
// whether the API has it (only its own not-found answer says it does not),
// whether the kind could create it if not (a card of the current API the
// account lacks is refused instead), and the observation. It is the read
// of every reconcile and of kubectl sim diff. The error is a failed read.
func readObject[T managedObject](ctx context.Context, ext external[T], obj T) (decision.Facts, Observation, error) {
	o, err := ext.observe(ctx, obj)
	f := decision.Facts{Read: true, Exists: !isGone(err), Creatable: !observesFirst(ext, obj)}
	switch {
	case !f.Exists && !f.Creatable:
		f.Refusal = ext.(observer[T]).absent(obj)
		return f, o, nil
	case !f.Exists:
		return f, o, nil
	case err != nil:
		return f, o, err
	}
	f.UpToDate = o.UpToDate()
	return f, o, nil
}

// result is what a kind's read or write returns: the observation status
// records once the answer is recorded, or the call's error.
func result[T managedObject](ext interface{ recorded(T) Observation }, obj T, err error) (Observation, error) {
	if err != nil {
		return Observation{}, err
	}
	return ext.recorded(obj), nil
}

// differences collects a kind's Diff, one "field: observed → wanted" each.
type differences []string

// add records a field whose observed value is not the wanted one.
func (d *differences) add(field string, observed, wanted any) {
	if observed != wanted {
		*d = append(*d, fmt.Sprintf("%s: %v → %v", field, observed, wanted))
	}
}

// addList records a list field whose observed items are not the wanted
// ones (nil and empty are the same list).
func addList[E comparable](d *differences, field string, observed, wanted []E) {
	if !slices.Equal(observed, wanted) {
		*d = append(*d, fmt.Sprintf("%s: %v → %v", field, observed, wanted))
	}
}
