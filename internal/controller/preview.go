package controller

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/decision"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// What kubectl sim diff needs to gather the facts the reconciler decides
// on, from the manifest (with the live object's status), the apiserver and
// one read: the kinds' own rules, not a copy of them. The decision itself
// is Decide.

// SIMEditionError refuses a SIM field of the other edition than the
// account's (NotInEdition), as the reconciler does before any call.
func SIMEditionError(s *v1alpha1.SIM, current bool) error { return simEditionError(s, current) }

// SIMIdentityError refuses a spec naming another SIM than the bound one.
func SIMIdentityError(s *v1alpha1.SIM) error { return simExternal{}.identityError(s) }

// SIMBound and ConnectorBound: status records which object the resource
// manages, as the reconciler reads it.
func SIMBound(s *v1alpha1.SIM) bool             { return simExternal{}.recorded(s).Bound }
func ConnectorBound(c *v1alpha1.Connector) bool { return connectorExternal{}.recorded(c).Bound }

// SIMClaimID and ConnectorClaimID are the identifiers their Claims are on.
func SIMClaimID(s *v1alpha1.SIM) string             { return simClaimID(s) }
func ConnectorClaimID(c *v1alpha1.Connector) string { return connectorClaimID(c) }

// ReadSIM reads a SIM's card through api as a reconcile does (the same
// identifier, the same read, the same comparison) and returns the facts of
// the read and its observation; s's status takes what the API answered.
// The error is a failed read (a bare 404 included).
func ReadSIM(ctx context.Context, api *onomondo.Client, s *v1alpha1.SIM) (decision.Facts, Observation, error) {
	return readObject(ctx, simExternal{tags: &tagCache{}}.connect(api), s)
}

// ReadConnector reads a Connector's connector as a reconcile does, through
// its account's edition; see ReadSIM.
func ReadConnector(ctx context.Context, api *onomondo.Client, c *v1alpha1.Connector) (decision.Facts, Observation, error) {
	return readObject(ctx, connectorExternal{}.connect(api), c)
}

// ClaimHeldElsewhere reads, from the apiserver, the Claim on a kind's
// object in an organisation: held by another resource that still exists,
// it is the refusal the reconciler would give (Duplicate…); nil when free,
// held by obj, or held by a resource that is gone (taken over). The error
// is a failed read.
func ClaimHeldElsewhere(ctx context.Context, reader client.Reader, org, kind, id string, obj client.Object) (refusal, err error) {
	if id == "" {
		return nil, nil
	}
	name := claimName(org, kind, id)
	var c v1alpha1.Claim
	if err := reader.Get(ctx, client.ObjectKey{Name: name}, &c); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if obj.GetUID() != "" && c.Spec.Holder.UID == obj.GetUID() {
		return nil, nil
	}
	store := claimStore{reader: reader}
	gone, err := store.holderGone(ctx, c.Spec.Holder, func() client.Object { return obj.DeepCopyObject().(client.Object) })
	switch {
	case apierrors.IsForbidden(err):
		return &claimedError{kind: kind, claim: name, holder: c.Spec.Holder, unconfirmed: true}, nil
	case err != nil:
		return nil, err
	case gone:
		return nil, nil
	}
	return &claimedError{kind: kind, claim: name, holder: c.Spec.Holder}, nil
}
