package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// Claims across managers. The in-cache claims (claimKeys, claimants) refuse
// a duplicate that one manager's cache can see; two installs restricted to
// their own namespaces, or two shards, see each other's resources not at
// all. So before its first write to an object, a managed resource holds a
// Claim: one cluster-scoped object per (organisation, kind, identifier),
// named from a hash of the three, created if absent. Creation is atomic:
// the apiserver lets one creation win and answers AlreadyExists to every
// other, in whatever manager. The Claim records its holder (namespace, name,
// UID); status.claim records it on the holder, so a resource that holds its
// claim costs nothing more at steady state.
//
// A Claim whose holder no longer exists is taken over only after the
// apiserver (never a cache) says the holder is gone, with an update that
// carries the Claim's resourceVersion: two takers cannot both win. A manager
// that may not read the holder's namespace cannot confirm it, and says so.

// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=claims,verbs=get;create;update;delete

// claimStore arbitrates ownership through Claims.
type claimStore struct {
	// client writes Claims; reader reads them and their holders from the
	// apiserver itself.
	client client.Client
	reader client.Reader
}

// claimName is the Claim of one identifier of one kind in one organisation.
func claimName(org, kind, id string) string {
	sum := sha256.Sum256([]byte(org + "\x00" + kind + "\x00" + id))
	return strings.ToLower(kind) + "-" + hex.EncodeToString(sum[:20])
}

// claimedError: another resource holds the claim on the object.
type claimedError struct {
	kind, claim string
	holder      v1alpha1.ClaimHolder
	// unconfirmed: this manager may not read the holder, so cannot tell
	// whether it still exists.
	unconfirmed bool
}

// describe names the holder only as far as a reader of the resource in
// namespace may see it: its name in the same namespace, else where it is.
func (e *claimedError) describe(namespace string) string {
	who := "a resource in namespace " + e.holder.Namespace
	if e.holder.Namespace == namespace {
		who = "the resource " + e.holder.Name
	}
	msg := fmt.Sprintf("is claimed by %s (Claim %s), possibly through another install of the operator; this one makes no API calls", who, e.claim)
	if e.unconfirmed {
		msg += ". This manager may not read that resource to confirm it still exists: if it is gone, delete the Claim"
	}
	return msg
}

func (e *claimedError) Error() string { return e.kind + " " + e.describe("") }

// acquire takes the named claim for obj, or returns a claimedError naming
// its holder. newObj makes an empty object of obj's kind, to look the
// holder up.
func (s *claimStore) acquire(ctx context.Context, name string, spec v1alpha1.ClaimSpec, newObj func() client.Object) error {
	c := &v1alpha1.Claim{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "sim-operator"}}, Spec: spec}
	err := s.client.Create(ctx, c)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := s.reader.Get(ctx, client.ObjectKey{Name: name}, c); err != nil {
		return err
	}
	if c.Spec.Holder.UID == spec.Holder.UID {
		return nil // ours (a status write lost after the create)
	}
	gone, err := s.holderGone(ctx, c.Spec.Holder, newObj)
	claimed := &claimedError{kind: spec.Kind, claim: name, holder: c.Spec.Holder}
	switch {
	case apierrors.IsForbidden(err):
		claimed.unconfirmed = true
		return claimed
	case err != nil:
		return err
	case !gone:
		return claimed
	}
	c.Spec = spec // taken over; the resourceVersion read above makes it one winner
	return s.client.Update(ctx, c)
}

// holderGone asks the apiserver whether the holder still exists.
func (s *claimStore) holderGone(ctx context.Context, h v1alpha1.ClaimHolder, newObj func() client.Object) (bool, error) {
	obj := newObj()
	err := s.reader.Get(ctx, client.ObjectKey{Namespace: h.Namespace, Name: h.Name}, obj)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return obj.GetUID() != h.UID, nil
}

// release deletes the named claim if uid holds it.
func (s *claimStore) release(ctx context.Context, name string, uid types.UID) error {
	var c v1alpha1.Claim
	if err := s.reader.Get(ctx, client.ObjectKey{Name: name}, &c); err != nil {
		return client.IgnoreNotFound(err)
	}
	if c.Spec.Holder.UID != uid {
		return nil // taken over since
	}
	err := s.client.Delete(ctx, &c, client.Preconditions{UID: &c.UID, ResourceVersion: &c.ResourceVersion})
	if apierrors.IsConflict(err) {
		return nil // changed hands in between
	}
	return client.IgnoreNotFound(err)
}

// orgKey carries, through one reconcile, the organisation of the resource's
// account, for the claims taken on the way.
type orgKey struct{}

// holdClaim takes, before a write, the claim on the object obj addresses
// now, unless status says it holds it already; a claim on an identifier the
// resource no longer addresses (a SIM known by its MSISDN until its IMSI
// was read, a rotated key) is released once the new one is held.
func (r *managedReconciler[T]) holdClaim(ctx context.Context, obj T) error {
	if r.claims == nil || policies(obj).ManagementPolicy == v1alpha1.ManagementPolicyObserveOnly {
		return nil
	}
	id := r.ext.identity(obj).Claim
	if id == "" {
		return nil
	}
	org, _ := ctx.Value(orgKey{}).(string)
	if org == "" {
		return &accountError{Reason: ReasonCredentialsMissing, Msg: "no API key for the account yet: nothing is claimed or sent until one appears"}
	}
	name := claimName(org, r.ext.kind(), id)
	st := status(obj)
	if st.Claim == name {
		return nil
	}
	spec := v1alpha1.ClaimSpec{Organisation: org, Kind: r.ext.kind(), Identifier: id,
		Holder: v1alpha1.ClaimHolder{Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()}}
	if err := r.claims.acquire(ctx, name, spec, func() client.Object { return r.newObj() }); err != nil {
		return err
	}
	if old := st.Claim; old != "" {
		if err := r.claims.release(ctx, old, obj.GetUID()); err != nil {
			return err
		}
	}
	st.Claim = name
	return nil
}

// releaseClaim lets the resource's claim go as it leaves.
func (r *managedReconciler[T]) releaseClaim(ctx context.Context, obj T) error {
	if r.claims == nil || status(obj).Claim == "" {
		return nil
	}
	return r.claims.release(ctx, status(obj).Claim, obj.GetUID())
}

// isClaimed: another resource, perhaps another install's, holds the claim.
func isClaimed(err error) bool {
	var c *claimedError
	return errors.As(err, &c)
}
