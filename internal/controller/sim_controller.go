package controller

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/accounts"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// SIMAPI is what the SIM controller needs from the Onomondo client.
type SIMAPI interface {
	GetSIM(ctx context.Context, id string) (*onomondo.SIM, error)
	CreateSIM(ctx context.Context, id string, s onomondo.SIM) error
	UpdateSIM(ctx context.Context, id string, s onomondo.SIM) error
	DeleteSIM(ctx context.Context, id string) error
}

// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=sims,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=sims/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=sims/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// NewSIMController makes SIMs in the Onomondo API match SIM resources, with
// the shared managed-object machinery (managed.go) and the SIM's API calls
// and comparison (simExternal). Besides SIMs it watches new SMSMessages: one
// whose simRef names a SIM with no known MSISDN makes that SIM read it at once.
func NewSIMController(c client.Client, api SIMAPI, rec recorder.EventRecorder, o ManagedOptions) *ManagedController[*v1alpha1.SIM] {
	return &ManagedController[*v1alpha1.SIM]{
		r:    newSIMReconciler(c, api, rec, o),
		name: "sim", opts: o,
		more: func(b *builder.Builder) *builder.Builder {
			return b.Watches(&v1alpha1.SMSMessage{}, handler.EnqueueRequestsFromMapFunc(referencedSIM),
				builder.WithPredicates(predicate.Funcs{
					UpdateFunc: func(event.UpdateEvent) bool { return false },
					DeleteFunc: func(event.DeleteEvent) bool { return false },
				}))
		},
	}
}

func newSIMReconciler(c client.Client, api SIMAPI, rec recorder.EventRecorder, o ManagedOptions) *managedReconciler[*v1alpha1.SIM] {
	return newManagedReconciler[*v1alpha1.SIM](c, simExternal{api: api, reader: c, tags: &tagCache{},
		fleet: &fleetCache{ttl: o.withDefaults().SyncPeriod}},
		func() *v1alpha1.SIM { return &v1alpha1.SIM{} }, func() client.ObjectList { return &v1alpha1.SIMList{} }, rec, o)
}

// referencedSIM maps a message to the SIM its simRef names.
func referencedSIM(_ context.Context, obj client.Object) []reconcile.Request {
	m, ok := obj.(*v1alpha1.SMSMessage)
	if !ok || m.Spec.SIMRef == nil {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: m.Namespace, Name: m.Spec.SIMRef.Name}}}
}

// simExternal is the SIM's half of the managed reconciler, for both
// editions: the account's client says which API it speaks, and a SIM named
// by SIM ID or ICCID is the current edition's (sim_current.go).
type simExternal struct {
	api    SIMAPI
	reader client.Reader
	tags   *tagCache
	// fleet observes a Current account's SIMs from one list (fleet.go).
	fleet *fleetCache
}

func (simExternal) kind() string { return "SIM" }

func (e simExternal) connect(api *onomondo.Client) external[*v1alpha1.SIM] { e.api = api; return e }

// identity: a SIM is addressed by simID, claimed on simClaimID, meets its
// duplicates by simClaimKeys, and is logged by the IMSI and MSISDN its
// spec names.
func (simExternal) identity(s *v1alpha1.SIM) identity {
	return identity{ID: simID(s), Claim: simClaimID(s), Keys: simClaimKeys(s), Log: []any{"imsi", s.Spec.IMSI, "msisdn", s.Spec.MSISDN}}
}

// simID is the bound SIM ID, else the bound IMSI, else the bound MSISDN (a
// SIM created by MSISDN whose IMSI the API has not reported yet), else what
// the spec names.
func simID(s *v1alpha1.SIM) string {
	if b := s.Status.Binding; b != nil {
		if b.SIMID != "" {
			return b.SIMID
		}
		if b.IMSI != "" {
			return b.IMSI
		}
		if b.MSISDN != "" {
			return b.MSISDN
		}
	}
	return s.APIID()
}

// simClaimKeys are the IMSIs and MSISDNs the spec names, the binding holds and
// the API last reported ("+" dropped), each once, within the resource's
// account: two accounts are two organisations, so the same IMSI through
// different accounts is no duplicate. Once bound, the binding is the
// resource's claim: an IMSI or MSISDN typed into the spec later claims
// nothing (an IMSI that is another SIM's is refused as IdentityMismatch; a
// new MSISDN is a number change, sent only while no other resource claims
// that number: see requestedKeys).
func simClaimKeys(s *v1alpha1.SIM) []string {
	var keys []string
	if accounts.ForeignAccount(s.Namespace, s.Spec.AccountRef) {
		return nil
	}
	acct := v1alpha1.AccountKey(s.Namespace, s.Spec.AccountRef) + "|"
	add := func(kind, v string) {
		if k := acct + kind + ":" + normMSISDN(v); v != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	if s.Status.Binding == nil {
		add("imsi", s.Spec.IMSI)
		add("msisdn", s.Spec.MSISDN)
		add("simid", s.Spec.SIMID)
		add("iccid", s.Spec.ICCID)
	}
	if b := s.Status.Binding; b != nil {
		add("imsi", b.IMSI)
		add("msisdn", b.MSISDN)
		add("simid", b.SIMID)
		add("iccid", b.ICCID)
	}
	if o := s.Status.AtProvider; o != nil {
		add("imsi", o.IMSI)
		add("msisdn", o.MSISDN)
		add("simid", o.SIMID)
		add("iccid", o.ICCID)
	}
	return keys
}

// simClaimID is what the SIM's Claim is on: its SIM ID on the current API;
// else its IMSI (bound, else named), else its number.
func simClaimID(s *v1alpha1.SIM) string {
	if currentIdentity(s) {
		simID := s.Spec.SIMID
		if b := s.Status.Binding; b != nil && b.SIMID != "" {
			simID = b.SIMID
		} else if simID == "" && len(s.Spec.ICCID) >= 19 {
			simID = s.Spec.ICCID[10:19]
		}
		return "simid:" + simID
	}
	imsi, msisdn := s.Spec.IMSI, s.Spec.MSISDN
	if b := s.Status.Binding; b != nil {
		imsi, msisdn = cmp.Or(b.IMSI, imsi), cmp.Or(b.MSISDN, msisdn)
	}
	switch {
	case imsi != "":
		return "imsi:" + imsi
	case msisdn != "":
		return "msisdn:" + normMSISDN(msisdn)
	}
	return ""
}

// requestedKeys are the identifiers a bound resource asks its SIM to take
// that the binding does not hold: a new spec.msisdn. They claim nothing,
// but no write carries them while another resource claims them.
func (simExternal) requestedKeys(s *v1alpha1.SIM) []string {
	b := s.Status.Binding
	if b == nil || s.Spec.MSISDN == "" || normMSISDN(s.Spec.MSISDN) == normMSISDN(b.MSISDN) || accounts.ForeignAccount(s.Namespace, s.Spec.AccountRef) {
		return nil
	}
	return []string{v1alpha1.AccountKey(s.Namespace, s.Spec.AccountRef) + "|msisdn:" + normMSISDN(s.Spec.MSISDN)}
}

func (simExternal) status(s *v1alpha1.SIM) any { return s.Status }

// bind records the SIM last reported or accepted as the one this resource
// manages. An identifier the API has not reported keeps its bound value.
func (simExternal) bind(s *v1alpha1.SIM) {
	o := s.Status.AtProvider
	b := s.Status.Binding
	if b == nil {
		b = &v1alpha1.SIMBinding{}
	}
	next := *b
	next.IMSI, next.MSISDN = cmp.Or(o.IMSI, next.IMSI), cmp.Or(o.MSISDN, next.MSISDN)
	next.SIMID, next.ICCID = cmp.Or(o.SIMID, next.SIMID), cmp.Or(o.ICCID, next.ICCID)
	s.Status.Binding = &next
}

// identityError refuses a spec IMSI (SIM ID, ICCID) that is not the bound SIM's.
func (simExternal) identityError(s *v1alpha1.SIM) error {
	b := s.Status.Binding
	if b != nil && b.SIMID != "" {
		for _, f := range []struct{ name, spec, bound string }{{"simId", s.Spec.SIMID, b.SIMID}, {"iccid", s.Spec.ICCID, b.ICCID}} {
			if f.spec != "" && f.bound != "" && f.spec != f.bound {
				return &specError{reason: ReasonIdentityMismatch, msg: fmt.Sprintf(
					"spec.%s %s is not the bound SIM's (%s, as the API reports it); no call is made to either SIM", f.name, f.spec, f.bound)}
			}
		}
		return nil
	}
	if b == nil || b.IMSI == "" || s.Spec.IMSI == "" || s.Spec.IMSI == b.IMSI {
		return nil
	}
	return &specError{reason: ReasonIdentityMismatch, msg: fmt.Sprintf(
		"spec.imsi %s is not the IMSI of the bound SIM (%s, as the API reports it); no call is made to either SIM. "+
			"Restore spec.imsi, or manage the other SIM with another resource", s.Spec.IMSI, b.IMSI)}
}

// needsRead: the spec names an IMSI the binding does not know yet (check it
// before anything else), or a message waits for this SIM's MSISDN.
func (e simExternal) needsRead(ctx context.Context, s *v1alpha1.SIM) bool {
	b := s.Status.Binding
	if currentIdentity(s) {
		return false
	}
	if s.Spec.IMSI != "" && b.IMSI == "" {
		return true
	}
	return b.MSISDN == "" && e.messageWaits(ctx, s)
}

// messageWaits: an unfinished SMSMessage names this SIM in its simRef.
func (e simExternal) messageWaits(ctx context.Context, s *v1alpha1.SIM) bool {
	return len(waitingMessages(ctx, e.reader, client.ObjectKeyFromObject(s))) > 0
}

// recorded is the SIM status.atProvider holds: it differs where a setting
// the spec sets (or the spec's MSISDN) is not the SIM's.
func (simExternal) recorded(s *v1alpha1.SIM) Observation {
	o, bound := s.Status.AtProvider, s.Status.Binding != nil
	switch {
	case o == nil:
		return Observation{Bound: bound, Description: "nothing yet"}
	case currentIdentity(s):
		return Observation{Exists: true, Bound: bound, Diff: currentChanges(s.Spec.CurrentSettings, o), Description: describeCurrent(o)}
	}
	diff := append(simChanges(s.Spec, o), currentChanges(s.Spec.CurrentSettings, o)...)
	return Observation{Exists: true, Bound: bound, Diff: diff, Description: describeSettings(o.SIMSettings)}
}

// create POSTs the SIM: the spec's settings, the API's defaults for the
// rest. The current API has no create: a SIM is a card that exists.
func (e simExternal) create(ctx context.Context, s *v1alpha1.SIM) (Observation, error) {
	w := e.desired(s, nil)
	return result(e, s, e.write(s, w, e.api.CreateSIM(ctx, simID(s), w)))
}

// update PUTs every setting: the spec's where it sets one, what the SIM has
// (status.atProvider) where it does not.
func (e simExternal) update(ctx context.Context, s *v1alpha1.SIM) (Observation, error) {
	if api, current := e.currentAPI(); current {
		p, err := e.currentPatch(ctx, api, s)
		if err != nil || p.Empty() {
			return result(e, s, err)
		}
		c, err := api.PatchSIM(ctx, simID(s), p)
		if err == nil {
			e.fleet.put(api, c)
		}
		return result(e, s, e.answered(s, c, err))
	}
	w := e.desired(s, s.Status.AtProvider)
	return result(e, s, e.write(s, w, e.api.UpdateSIM(ctx, simID(s), w)))
}

// desired is the body of a write to the bound SIM (or the one the spec names).
func (e simExternal) desired(s *v1alpha1.SIM, observed *v1alpha1.SIMObservation) onomondo.SIM {
	w := wireSettings(s.Spec.SIMSettings, observed)
	w.IMSI, w.MSISDN = s.Spec.IMSI, s.Spec.MSISDN
	if b := s.Status.Binding; b != nil {
		w.IMSI = b.IMSI
		if w.MSISDN == "" {
			w.MSISDN = b.MSISDN
		}
	}
	return w
}

// write records an accepted body as what the API now holds. The MSISDN of a
// SIM created by IMSI alone is unknown until it is read.
func (simExternal) write(s *v1alpha1.SIM, w onomondo.SIM, err error) error {
	if err == nil {
		s.Status.AtProvider = observation(&w)
	}
	return err
}

// answered records the SIM the current API answered with.
func (simExternal) answered(s *v1alpha1.SIM, c *onomondo.CurrentSIM, err error) error {
	if err == nil {
		s.Status.AtProvider = currentObservation(c)
	}
	return err
}

func (e simExternal) observe(ctx context.Context, s *v1alpha1.SIM) (Observation, error) {
	if api, current := e.currentAPI(); current {
		c, err := e.fleet.get(ctx, api, simID(s))
		return result(e, s, e.answered(s, c, err))
	}
	current, err := e.api.GetSIM(ctx, simID(s))
	if err == nil {
		s.Status.AtProvider = observation(current)
	}
	return result(e, s, err)
}

// remove deletes the SIM; on the current API it deactivates it (a SIM is
// never removed there).
func (e simExternal) remove(ctx context.Context, s *v1alpha1.SIM) error {
	if api, current := e.currentAPI(); current {
		_, err := api.PatchSIM(ctx, simID(s), onomondo.SIMPatch{Activated: ptrTo(false)})
		return err
	}
	return e.api.DeleteSIM(ctx, simID(s))
}

func (simExternal) exists(err error) bool { return onomondo.IsCode(err, onomondo.CodeIMSIConflict) }
