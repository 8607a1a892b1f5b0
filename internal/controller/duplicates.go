package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// Duplicates within one manager's cache: the resources that name the same
// object in the API (by any identifier, indexed), the oldest of which owns
// it; the others are refused before any call. Claims (claims.go) carry the
// same rule across managers.

// duplicateError: an older resource claims the same object; this one makes no call.
type duplicateError struct{ owner client.Object }

func (e *duplicateError) Error() string {
	return "managed by the older resource " + e.owner.GetNamespace() + "/" + e.owner.GetName()
}

// claim fails with a duplicateError when an older resource claims any of
// obj's identifiers, and with IdentityMismatch when the spec asks the bound
// object to take an identifier another resource claims. In an early pass
// the resource's Claim decides, or the pass is left undecided (errNotEarly).
func (r *managedReconciler[T]) claim(ctx context.Context, obj T) error {
	if pass := earlyPassOf(ctx); pass != nil {
		return r.claimHeld(ctx, obj, pass)
	}
	owner, _, err := r.claimants(ctx, obj)
	if err == nil && owner != nil {
		return &duplicateError{owner: owner}
	}
	if err != nil {
		return err
	}
	return r.checkRequested(ctx, obj)
}

// checkRequested refuses a requested identifier that another live resource
// claims: it is that resource's object's, and no write carries it.
func (r *managedReconciler[T]) checkRequested(ctx context.Context, obj T) error {
	req, ok := r.ext.(requester[T])
	if !ok {
		return nil
	}
	for _, key := range req.requestedKeys(obj) {
		others, err := r.claimantsOf(ctx, key, map[types.UID]bool{obj.GetUID(): true})
		if err != nil {
			return err
		}
		for _, other := range others {
			if !refusedAccount(other) {
				_, id, _ := strings.Cut(key, "|")
				return &requestedError{msg: fmt.Sprintf(
					"the spec asks the bound %s to take %s, which %s/%s claims; nothing is sent, "+
						"and the change waits until no other resource claims it (or restore the spec)",
					r.named(obj), id, other.GetNamespace(), other.GetName())}
			}
		}
	}
	return nil
}

// claimants looks up the other resources claiming any of obj's identifiers,
// across namespaces: the oldest of those older than obj (it owns the
// object), and any live one (a successor to hand the object over to).
func (r *managedReconciler[T]) claimants(ctx context.Context, obj T) (owner, successor client.Object, err error) {
	others, err := r.otherClaimants(ctx, obj)
	if err != nil {
		return nil, nil, err
	}
	for _, other := range others {
		if refusedAccount(other) {
			continue // a resource refused its account claims nothing in it
		}
		if r.olderThan(other, obj) && (owner == nil || r.olderThan(other, owner.(T))) {
			owner = other
		}
		if other.GetDeletionTimestamp().IsZero() && successor == nil {
			successor = other
		}
	}
	return owner, successor, nil
}

// otherClaimants are the other resources that claim any of obj's
// identifiers, each once, read from the cache without copies (read-only).
func (r *managedReconciler[T]) otherClaimants(ctx context.Context, obj T) ([]T, error) {
	var out []T
	seen := map[types.UID]bool{obj.GetUID(): true}
	for _, key := range r.ext.identity(obj).Keys {
		others, err := r.claimantsOf(ctx, key, seen)
		if err != nil {
			return nil, err
		}
		out = append(out, others...)
	}
	return out, nil
}

// claimantsOf are the resources claiming one identifier that are not in
// seen (each is added to it), read from the cache without copies.
func (r *managedReconciler[T]) claimantsOf(ctx context.Context, key string, seen map[types.UID]bool) ([]T, error) {
	claimants, err := withKey(ctx, r.Client, r.newList, apiIDIndex, key, func(o T) []string { return r.ext.identity(o).Keys })
	if err != nil {
		return nil, err
	}
	var out []T
	for _, other := range claimants {
		if !seen[other.GetUID()] {
			seen[other.GetUID()] = true
			out = append(out, other)
		}
	}
	return out, nil
}

// refusedAccount: the resource may not use the account it names (or
// speaks the other edition than it), so it can own nothing there (else an older refused resource in one namespace
// could block another namespace's use of its own account).
func refusedAccount(obj managedObject) bool {
	c := meta.FindStatusCondition(status(obj).Conditions, v1alpha1.ConditionSynced)
	return c != nil && (c.Reason == ReasonAccountNotAllowed || c.Reason == ReasonNotInEdition)
}

// olderThan orders claims: the older resource first; within the same second
// (creationTimestamp's resolution) the one already bound to the object, so
// that a newcomer never takes over; then by namespace/name.
func (r *managedReconciler[T]) olderThan(a, b T) bool {
	at, bt := a.GetCreationTimestamp(), b.GetCreationTimestamp()
	if !at.Equal(&bt) {
		return at.Before(&bt)
	}
	if ab, bb := r.ext.recorded(a).Bound, r.ext.recorded(b).Bound; ab != bb {
		return ab
	}
	return a.GetNamespace()+"/"+a.GetName() < b.GetNamespace()+"/"+b.GetName()
}

// markClaimFailed records a failed claim check: Ready and Synced False,
// reason Duplicate<Kind> for a duplicate, IdentityMismatch for an
// identifier another resource claims; else the lookup's error.
func (r *managedReconciler[T]) markClaimFailed(ctx context.Context, obj T, err error) (ctrl.Result, error) {
	if !claimRefusal(err) {
		return ctrl.Result{}, err
	}
	return r.markFailed(ctx, obj, err), nil
}

// claimRefusal: the claim check refused the resource (a duplicate, an
// identifier claimed elsewhere, its account); any other error is a failed
// lookup, retried.
func claimRefusal(err error) bool {
	var (
		dup       *duplicateError
		spec      *specError
		claimed   *claimedError
		account   *accountError
		requested *requestedError
	)
	return errors.As(err, &dup) || errors.As(err, &spec) || errors.As(err, &claimed) || errors.As(err, &account) || errors.As(err, &requested)
}
