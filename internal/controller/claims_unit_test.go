package controller

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// The Claim store, rule by rule, on a fake apiserver: one winner per
// (organisation, kind, identifier), taken over only from a holder the
// apiserver says is gone, let go only by its holder.
func TestClaimStore(t *testing.T) {
	ctx := context.Background()
	holder := func(name, uid string) v1alpha1.ClaimSpec {
		return v1alpha1.ClaimSpec{Organisation: "org", Kind: "SIM", Identifier: "imsi:1",
			Holder: v1alpha1.ClaimHolder{Namespace: "ns", Name: name, UID: types.UID(uid)}}
	}
	name := claimName("org", "SIM", "imsi:1")
	newSIM := func() client.Object { return &v1alpha1.SIM{} }
	held := func(spec v1alpha1.ClaimSpec) *v1alpha1.Claim {
		return &v1alpha1.Claim{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	}
	live := simObj("old", byIMSI(imsiA, true))

	t.Run("the first taker wins; its own claim found again is its", func(t *testing.T) {
		c := fakeClient(interceptor.Funcs{})
		s := &claimStore{client: c, reader: c}
		if err := s.acquire(ctx, name, holder("a", "uid-a"), newSIM); err != nil {
			t.Fatal(err)
		}
		if err := s.acquire(ctx, name, holder("a", "uid-a"), newSIM); err != nil {
			t.Fatalf("a status write lost after the create: %v, want the claim found to be its own", err)
		}
	})
	t.Run("a live holder keeps it: the taker is refused, named only as far as its namespace may see", func(t *testing.T) {
		c := fakeClient(interceptor.Funcs{}, live, held(holder("old", string(live.UID))))
		s := &claimStore{client: c, reader: c}
		err := s.acquire(ctx, name, holder("new", "uid-new"), newSIM)
		var claimed *claimedError
		if !errors.As(err, &claimed) || !isClaimed(err) {
			t.Fatalf("%v, want a claimedError", err)
		}
		if !strings.Contains(claimed.describe("ns"), "the resource old") || strings.Contains(claimed.describe("other"), "old") ||
			!strings.HasPrefix(claimed.Error(), "SIM is claimed") {
			t.Errorf("described %q, %q, %q", claimed.describe("ns"), claimed.describe("other"), claimed.Error())
		}
	})
	t.Run("a holder the apiserver says is gone is taken over", func(t *testing.T) {
		c := fakeClient(interceptor.Funcs{}, held(holder("gone", "uid-gone")))
		s := &claimStore{client: c, reader: c}
		if err := s.acquire(ctx, name, holder("new", "uid-new"), newSIM); err != nil {
			t.Fatal(err)
		}
		var got v1alpha1.Claim
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &got); err != nil || got.Spec.Holder.UID != "uid-new" {
			t.Fatalf("claim %+v, %v; want it held by the taker", got.Spec.Holder, err)
		}
	})
	t.Run("a holder of the same name but another UID is another resource: gone", func(t *testing.T) {
		c := fakeClient(interceptor.Funcs{}, live, held(holder("old", "uid-earlier")))
		s := &claimStore{client: c, reader: c}
		if err := s.acquire(ctx, name, holder("new", "uid-new"), newSIM); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a holder this manager may not read is unconfirmed, and the refusal says so", func(t *testing.T) {
		forbidden := interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*v1alpha1.SIM); ok {
				return apierrors.NewForbidden(schema.GroupResource{Resource: "sims"}, key.Name, errors.New("no"))
			}
			return c.Get(ctx, key, obj, opts...)
		}}
		c := fakeClient(forbidden, held(holder("old", "uid-old")))
		s := &claimStore{client: c, reader: c}
		var claimed *claimedError
		if err := s.acquire(ctx, name, holder("new", "uid-new"), newSIM); !errors.As(err, &claimed) || !claimed.unconfirmed ||
			!strings.Contains(claimed.describe("ns"), "delete the Claim") {
			t.Fatalf("%v, want an unconfirmed claimedError", err)
		}
	})
	t.Run("only its holder lets a claim go", func(t *testing.T) {
		c := fakeClient(interceptor.Funcs{}, held(holder("new", "uid-new")))
		s := &claimStore{client: c, reader: c}
		if err := s.release(ctx, name, "uid-old"); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &v1alpha1.Claim{}); err != nil {
			t.Fatalf("a former holder deleted the claim taken over since: %v", err)
		}
		if err := s.release(ctx, name, "uid-new"); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &v1alpha1.Claim{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the holder's release left the claim: %v", err)
		}
		if err := s.release(ctx, name, "uid-new"); err != nil {
			t.Fatalf("releasing a claim already gone: %v", err)
		}
	})
}
