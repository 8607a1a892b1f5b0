package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unique"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/decision"
	"github.com/sim-operator/sim-operator/internal/metrics"
	"github.com/sim-operator/sim-operator/internal/onomondo"
	"github.com/sim-operator/sim-operator/internal/schedule"
)

// Finalizer holds a resource until its object is deleted in the API (or orphaned).
const Finalizer = "onomondo.sim-operator.dev/finalizer"

// apiIDIndex indexes each managed kind by the identifier it claims in the API.
const apiIDIndex = "spec.apiID"

// requestedIndex indexes resources by the identifiers they ask their bound
// object to take (a SIM's new number): they wait for whoever claims it.
const requestedIndex = "spec.requestedID"

// Condition reasons shared by the managed kinds, besides the API error reasons.
const (
	ReasonAvailable        = "Available"
	ReasonReconcileSuccess = "ReconcileSuccess"
	ReasonDiffers          = "Differs"
	ReasonReconcilePaused  = "ReconcilePaused"
	// ReasonDuplicateSIM is the duplicate reason of SIMs; other kinds use "Duplicate"+kind.
	ReasonDuplicateSIM = "DuplicateSIM"
	// ReasonDuplicateConnector is the duplicate reason of Connectors.
	ReasonDuplicateConnector = "DuplicateConnector"
	// ReasonConfigTooLarge: a Connector's spec.config is over the API's limit.
	ReasonConfigTooLarge = "ConfigTooLarge"
)

// managedObject is a resource mirrored by one object in the API.
type managedObject interface {
	client.Object
	Managed() (*v1alpha1.ManagedPolicies, *v1alpha1.ManagedStatus)
}

// external is the kind-specific half of a managed reconciler: how one
// kind names its object, reads and writes it in the API, and what status
// says of it. Every read and write returns an Observation (and records
// what the API now holds in status.atProvider); the engine decides from
// those values.
type external[T managedObject] interface {
	kind() string
	// connect is the kind's external with its calls going through api, the
	// resource's account's client (see managedReconciler.connect).
	connect(api *onomondo.Client) external[T]
	// identity is how the resource names its object.
	identity(T) identity
	// recorded is the observation status records, with no call.
	recorded(T) Observation
	// status is the kind's status, compared to decide whether to write it.
	status(T) any

	observe(context.Context, T) (Observation, error)
	create(context.Context, T) (Observation, error)
	update(context.Context, T) (Observation, error)
	remove(context.Context, T) error
}

// binder is a kind whose binding is learnt from the API (a SIM's IMSI,
// number and SIM ID), not given by its own identifier as a Connector's ID
// is: bind records the observed object as the binding, identityError
// refuses a spec that names another object than the bound one, needsRead
// asks for a read when the binding lacks something needed now.
type binder[T managedObject] interface {
	bind(T)
	identityError(T) error
	needsRead(context.Context, T) bool
}

// conflicter is a kind whose create can answer that the object is already
// there (then it is adopted).
type conflicter interface {
	exists(error) bool
}

// bindObserved records the observed object as the binding, for a binder.
func (r *managedReconciler[T]) bindObserved(obj T) {
	if b, ok := r.ext.(binder[T]); ok {
		b.bind(obj)
	}
}

// identityError refuses, for a binder, a spec naming another object than the bound one.
func (r *managedReconciler[T]) identityError(obj T) error {
	if b, ok := r.ext.(binder[T]); ok {
		return b.identityError(obj)
	}
	return nil
}

// needsRead: for a binder, the binding lacks something needed now.
func (r *managedReconciler[T]) needsRead(ctx context.Context, obj T) bool {
	b, ok := r.ext.(binder[T])
	return ok && b.needsRead(ctx, obj)
}

// createConflicted: the create's answer says the object is already there.
func (r *managedReconciler[T]) createConflicted(err error) bool {
	c, ok := r.ext.(conflicter)
	return ok && c.exists(err)
}

// managedReconciler converges one managed kind: observe first, then exactly
// one of create, update, delete or nothing; status written once, when changed.
type managedReconciler[T managedObject] struct {
	client.Client
	ext      external[T]
	newObj   func() T
	newList  func() client.ObjectList
	recorder recorder.EventRecorder
	schedule *schedule.Schedule
	// justBound holds the resources this process bound whose binding the
	// cache may not show yet (by key, the UID bound): a reconcile reading
	// the stale copy waits for the cache instead of creating again.
	justBound sync.Map
	// claims arbitrates ownership across managers; nil: the cache's claims only.
	claims *claimStore
	// accounts resolves a resource's account to its API client; nil: the
	// external's own client serves every resource.
	accounts accountResolver
	// early converges pending resources as the initial list arrives; nil: none.
	early *earlyLane[T]
}

// accountResolver is what the reconcilers need of Accounts.
type accountResolver interface {
	Resolve(ctx context.Context, namespace string, ref *v1alpha1.AccountReference) (*onomondo.Client, error)
}

// newManagedReconciler builds the reconciler of one kind; setup (or a test)
// connects it to a client and an API.
func newManagedReconciler[T managedObject](c client.Client, ext external[T], newObj func() T, newList func() client.ObjectList,
	rec recorder.EventRecorder, o ManagedOptions) *managedReconciler[T] {
	o = o.withDefaults()
	s := schedule.New(o.SyncPeriod, o.SyncJitter, o.MinBackoff, o.MaxBackoff)
	r := &managedReconciler[T]{Client: c, ext: ext, newObj: newObj, newList: newList, recorder: rec, schedule: s}
	s.Budget = func(account string) float64 { return r.accountRate(account, o.APIRate) / 2 / r.driftCost(account) }
	log := logf.Log.WithValues("controller", strings.ToLower(ext.kind()))
	s.OnStretch = func(account string, effective time.Duration, objects int) {
		log.Info("drift checks would take more than half of the account's API budget: stretching its drift period",
			"account", metrics.AccountLabel(account), "objects", objects, "syncPeriod", o.SyncPeriod,
			"effectivePeriod", effective.Round(time.Second), "apiRate", r.accountRate(account, o.APIRate))
	}
	return r
}

// accountRate is an account's API budget in calls per second (0: unlimited
// or not known yet): --api-rate for the default account, the Account's rate
// for the others.
func (r *managedReconciler[T]) accountRate(account string, apiRate float64) float64 {
	if account == "" {
		return max(apiRate, 0)
	}
	if rated, ok := r.accounts.(interface{ Rate(key string) float64 }); ok {
		return rated.Rate(account)
	}
	return 0
}

// driftCost is what one drift check of this kind costs an account, in API
// calls: one GET, or a share of a list call for a kind observed from its
// account's fleet (a SIM on a Current account: 1/1000).
func (r *managedReconciler[T]) driftCost(account string) float64 {
	f, ok := r.ext.(fleetObserved)
	if !ok {
		return 1
	}
	if ed, ok := r.accounts.(interface{ Current(key string) bool }); ok && ed.Current(account) {
		return f.fleetDriftCost()
	}
	return 1
}

// fleetObserved is a kind whose drift checks on a Current account read a
// list the whole account shares.
type fleetObserved interface {
	fleetDriftCost() float64
}

// accountOf is the schedule's account of a resource: its AccountKey, one
// shared string per account.
func accountOf(obj managedObject) string {
	return Intern(v1alpha1.AccountKey(obj.GetNamespace(), policies(obj).AccountRef))
}

// Intern returns the canonical copy of s: strings that every object of a
// large fleet repeats are held once.
func Intern(s string) string { return unique.Make(s).Value() }

// Reconcile is the table of contents: read, then converge (unless an early
// pass converges the resource or wrote it after the cache's copy).
func (r *managedReconciler[T]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := r.newObj()
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		r.schedule.Forget(req.NamespacedName)
		r.justBound.Delete(req.NamespacedName)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.early.waits(obj) {
		return ctrl.Result{RequeueAfter: staleCacheWait}, nil
	}
	res, _, err := r.converge(ctx, obj)
	return res, err
}

// converge deletes or converges obj and writes its status once at the end
// if it changed (wrote).
func (r *managedReconciler[T]) converge(ctx context.Context, obj T) (res ctrl.Result, wrote bool, retErr error) {
	ctx = logf.IntoContext(ctx, logf.FromContext(ctx).WithValues(redactValues(r.ext.identity(obj).Log...)...))
	orig := obj.DeepCopyObject().(T)
	defer func() {
		if p := earlyPassOf(ctx); p != nil && p.undecided {
			return // left to the workers as if the pass had not run
		}
		var err error
		wrote, err = r.patchStatus(ctx, orig, obj)
		if err != nil {
			r.justBound.Delete(client.ObjectKeyFromObject(obj)) // the binding was not written: nothing to wait for
		}
		if retErr = kerrors.NewAggregate([]error{retErr, err}); retErr != nil {
			res = ctrl.Result{} // an error is retried with the workqueue's backoff; a result beside it is ignored
		}
	}()

	if Paused(obj) {
		r.markPaused(obj)
		return ctrl.Result{}, false, nil // the annotation's removal wakes it
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		res, err := r.reconcileDelete(ctx, obj)
		return res, false, err
	}
	res, err := r.reconcileNormal(ctx, obj)
	return res, false, err
}

// reconcileNormal converges a live resource: it gathers the facts, lets
// Decide choose, and carries the choice out. Sets Ready and Synced.
func (r *managedReconciler[T]) reconcileNormal(ctx context.Context, obj T) (ctrl.Result, error) {
	p, ctx, err := r.connect(ctx, obj)
	f, recorded, err := p.facts(ctx, obj, err)
	if err != nil {
		return ctrl.Result{}, err // a claim lookup failed
	}
	act := decision.Decide(f)
	if decision.Background(act, f) {
		ctx = onomondo.Background(ctx)
	}
	switch act {
	case decision.Refuse:
		return r.markFailed(ctx, obj, cmp.Or(f.Refusal, f.IdentityError)), nil // no call, no claim
	case decision.Parked:
		return ctrl.Result{}, nil // only a spec change (a new generation) or a sync request is worth another call
	case decision.Observe:
		return p.observeOnly(ctx, obj), nil
	}
	if f.ObserveOnly { // and nothing due
		return ctrl.Result{}, nil // the schedule queues its drift check when due
	}
	if err := r.holdClaim(ctx, obj); err != nil {
		return r.markClaimFailed(ctx, obj, err)
	}
	if err := r.ensureFinalizer(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}
	return p.carryOut(ctx, obj, act, recorded), nil
}

// facts gathers what the decision is made on, in the order Decide weighs
// it, and the observation status records; a refusal ends the gathering.
// The error is a failed lookup, no fact.
func (r pass[T]) facts(ctx context.Context, obj T, connectErr error) (decision.Facts, Observation, error) {
	f := decision.Facts{Refusal: connectErr}
	if ed, ok := r.ext.(editioner[T]); ok && f.Refusal == nil {
		f.Refusal = ed.editionError(ctx, obj)
	}
	if f.Refusal == nil {
		if err := r.claim(ctx, obj); err != nil && !claimRefusal(err) {
			return f, Observation{}, err
		} else if err != nil {
			f.Refusal = err
		}
	}
	if f.Refusal != nil {
		return f, Observation{}, nil
	}
	key := client.ObjectKeyFromObject(obj)
	f.SyncRequested = r.takeSyncRequest(obj)
	f.Parked = blockedByTerminalError(obj)
	f.ObserveOnly = policies(obj).ManagementPolicy == v1alpha1.ManagementPolicyObserveOnly
	f.NewGeneration = status(obj).ObservedGeneration != obj.GetGeneration()
	o := r.ext.recorded(obj)
	f.StaleCache = !f.ObserveOnly && r.staleUnbound(obj, o.Bound)
	f.Bound, f.MayExist = o.Bound, r.mayExist(obj, o)
	f.IdentityError = r.identityError(obj)
	f.NeedsRead = f.Bound && f.IdentityError == nil && r.needsRead(ctx, obj)
	f.UpToDate, f.Seen = o.UpToDate(), r.schedule.Seen(key)
	f.DriftDue = r.schedule.Resume(key, accountOf(obj), inSync(obj))
	return f, o, nil
}

// carryOut makes the decision once the claim is held and the finalizer
// set: create, adopt, update, check for drift, apply a pending change,
// wait for the cache, or nothing (then o, the observation status records,
// stands).
func (r pass[T]) carryOut(ctx context.Context, obj T, act decision.Action, o Observation) ctrl.Result {
	var err error
	switch act {
	case decision.Nothing:
		r.markSynced(obj, o)
		return ctrl.Result{} // the schedule queues its drift check when due
	case decision.Wait:
		return ctrl.Result{RequeueAfter: staleCacheWait} // this process bound it; the cache has not caught up
	case decision.Create:
		o, err = r.create(ctx, obj)
	case decision.Adopt:
		o, err = r.adopt(ctx, obj, nil)
	case decision.Update:
		o, err = r.update(ctx, obj, "Updated", "applied the spec change")
	case decision.Check:
		o, err = r.readThenApply(ctx, obj, true)
	case decision.ApplyPending:
		o, err = r.readThenApply(ctx, obj, false)
	}
	if err != nil {
		return r.markFailed(ctx, obj, err)
	}
	r.markSynced(obj, o)
	return r.driftCheckLater(obj)
}

// pass is one reconcile of one resource: the engine with the kind's
// external connected to the resource's account. Every API call of the
// reconcile goes through pass.ext; no client travels in a context.
type pass[T managedObject] struct {
	*managedReconciler[T]
	ext external[T]
}

// connect resolves the resource's account and connects the kind to its
// client, with the account's organisation in the context for claims. An
// account that does not resolve to a client is an error, never a fallback
// to another client. Without accounts (the decision table's tests) the
// kind's own client serves, and each account key stands for an
// organisation.
func (r *managedReconciler[T]) connect(ctx context.Context, obj T) (pass[T], context.Context, error) {
	p, org := pass[T]{managedReconciler: r, ext: r.ext}, "account:"+accountOf(obj)
	if r.accounts != nil {
		api, err := r.accounts.Resolve(ctx, obj.GetNamespace(), policies(obj).AccountRef)
		if err == nil && api == nil {
			err = fmt.Errorf("account %s resolved to no API client", metrics.AccountLabel(accountOf(obj)))
		}
		if err != nil {
			return p, ctx, err
		}
		p.ext, org = r.ext.connect(api), api.Organisation()
	}
	return p, context.WithValue(ctx, orgKey{}, org), nil
}

// takeSyncRequest reports whether the requested-at annotation holds a value
// not handled yet, and records it as handled: one request, one immediate
// read and decision.
func (r *managedReconciler[T]) takeSyncRequest(obj T) bool {
	v := obj.GetAnnotations()[v1alpha1.AnnotationRequestedAt]
	if v == "" || v == status(obj).LastHandledRequestedAt {
		return false
	}
	status(obj).LastHandledRequestedAt = v
	r.schedule.Forget(client.ObjectKeyFromObject(obj))
	return true
}

// Paused: the resource carries the paused annotation (kubectl sim diff asks too).
func Paused(obj client.Object) bool { return obj.GetAnnotations()[v1alpha1.AnnotationPaused] == "true" }

// driftCheckLater schedules the resource's next drift check. The schedule
// queues it when due (driftPump), at low priority, so that a spec change, a
// deletion or a sync request queued meanwhile goes first: user intents never
// wait behind an account's drift checks for a worker. The workqueue holds no
// item for it until then.
func (r *managedReconciler[T]) driftCheckLater(obj T) ctrl.Result {
	r.schedule.Synced(client.ObjectKeyFromObject(obj), accountOf(obj))
	return ctrl.Result{}
}

// staleCacheWait is how long a reconcile that read a copy older than this
// process's own binding waits for the cache.
const staleCacheWait = 100 * time.Millisecond

// staleUnbound: the cached copy shows no binding, but this process bound the
// object (another event woke it between the write and the cache's update).
// A bound copy ends the wait.
func (r *managedReconciler[T]) staleUnbound(obj T, bound bool) bool {
	key := client.ObjectKeyFromObject(obj)
	uid, ok := r.justBound.Load(key)
	switch {
	case !ok:
		return false
	case bound || uid != obj.GetUID():
		r.justBound.Delete(key)
		return false
	}
	return true
}

// mayExist: the object was seen in the API (observed, or managed by an older
// resource this one was a duplicate of), or the manifest says it exists (an
// import), so taking it over starts with a GET, not a POST: a resource
// renamed in Git takes its SIM over with no create.
func (r *managedReconciler[T]) mayExist(obj T, o Observation) bool {
	c := meta.FindStatusCondition(status(obj).Conditions, v1alpha1.ConditionSynced)
	if observesFirst(r.ext, obj) {
		return true
	}
	return o.Exists || (c != nil && c.Reason == "Duplicate"+r.ext.kind()) ||
		obj.GetAnnotations()[v1alpha1.AnnotationObserveFirst] == "true"
}

// observesFirst: the kind's object exists before its resource and is never
// created (a SIM card of the current API).
func observesFirst[T managedObject](ext external[T], obj T) bool {
	o, ok := ext.(observer[T])
	return ok && o.observeFirst(obj)
}

// create makes the object with one POST. An "exists" answer means adopt it
// (GET, then PUT only if it differs).
func (r pass[T]) create(ctx context.Context, obj T) (Observation, error) {
	o, err := r.ext.create(ctx, obj)
	switch {
	case err == nil:
		r.bound(obj, o)
		r.event(ctx, obj, corev1.EventTypeNormal, "Created", "created %s in the Onomondo API", r.named(obj))
		return o, nil
	case r.createConflicted(err):
		return r.adopt(ctx, obj, err)
	default:
		return o, err
	}
}

// adopt takes over an object that already exists: GET, check that no older
// resource claims what the answer names, bind, then PUT only if it differs.
// conflict is the create's "exists" answer, nil when adopting what was seen.
func (r pass[T]) adopt(ctx context.Context, obj T, conflict error) (Observation, error) {
	f, o, err := r.read(ctx, obj)
	if err != nil {
		return o, err
	}
	f.CreateRefused = conflict
	switch decision.Decide(f) {
	case decision.Refuse:
		return o, cmp.Or(f.Refusal, conflict) // a conflict over something else (a SIM's MSISDN held by another SIM)
	case decision.Create:
		return r.create(ctx, obj) // seen once, gone now
	case decision.Nothing:
		r.event(ctx, obj, corev1.EventTypeNormal, "Adopted", "adopted existing %s; it already matched the spec", r.named(obj))
		return o, nil
	}
	r.event(ctx, obj, corev1.EventTypeNormal, "Adopted", "adopted existing %s; updating it to match the spec", r.named(obj))
	return r.update(ctx, obj, "Updated", "adopted "+r.ext.kind()+" updated")
}

// read observes the object and gathers the facts of a read (readObject)
// and, when the API has it, whether claims and the binding allow it (see
// confirm). The error is a failed read.
func (r pass[T]) read(ctx context.Context, obj T) (decision.Facts, Observation, error) {
	f, o, err := readObject(ctx, r.ext, obj)
	if err == nil && f.Exists {
		f.Refusal = r.confirm(ctx, obj, o)
	}
	return f, o, err
}

// confirm runs after a GET: the answer may name identifiers this resource
// did not know (a twin named by the other identifier), so claims are checked
// again before any write; then the answer becomes the binding, and a spec
// that names another object is refused.
func (r pass[T]) confirm(ctx context.Context, obj T, o Observation) error {
	if err := r.claim(ctx, obj); err != nil {
		return err
	}
	r.bound(obj, o)
	if err := r.identityError(obj); err != nil {
		return err
	}
	return r.holdClaim(ctx, obj) // the answer may name the object by another identifier
}

// bound records the observed object as the resource's binding, and that
// this process made it (see staleUnbound).
func (r *managedReconciler[T]) bound(obj T, o Observation) {
	if !o.Bound && policies(obj).ManagementPolicy != v1alpha1.ManagementPolicyObserveOnly {
		r.justBound.Store(client.ObjectKeyFromObject(obj), obj.GetUID())
	}
	r.bindObserved(obj)
}

// update PUTs the desired state; an object deleted behind our back is recreated.
func (r pass[T]) update(ctx context.Context, obj T, reason, note string) (Observation, error) {
	o, err := r.ext.update(ctx, obj)
	if isGone(err) {
		return r.recreate(ctx, obj)
	}
	if err != nil {
		return o, err
	}
	r.bindObserved(obj)
	r.event(ctx, obj, corev1.EventTypeNormal, reason, "%s: %s", note, o.Description)
	return o, nil
}

// readThenApply reads the object (creating it again if it is gone) and
// writes the spec only if the object differs: a drift corrected, or a
// pending spec change applied. A change this process finds pending the
// first time it sees the object is read first because its predecessor
// (before a restart or a failover) may have applied it and died before
// writing status: no SIM is written twice.
func (r pass[T]) readThenApply(ctx context.Context, obj T, drift bool) (Observation, error) {
	f, o, err := r.read(ctx, obj)
	if err != nil {
		return o, err
	}
	switch decision.Decide(f) {
	case decision.Refuse:
		return o, f.Refusal
	case decision.Create:
		return r.recreate(ctx, obj)
	case decision.Nothing:
		return o, nil
	}
	if drift {
		return r.update(ctx, obj, "DriftCorrected", "corrected a change made outside the operator, was "+o.Description)
	}
	return r.update(ctx, obj, "Updated", "applied the spec change")
}

func (r pass[T]) recreate(ctx context.Context, obj T) (Observation, error) {
	o, err := r.ext.create(ctx, obj)
	if err != nil {
		return o, err
	}
	r.bindObserved(obj)
	r.event(ctx, obj, corev1.EventTypeWarning, "Recreated", "%s was deleted outside the operator; created it again", r.named(obj))
	return o, nil
}

// observeOnly reads the object and reports it, never writing. Sets Ready
// (does the real object match the spec?) and Synced. The first read binds.
func (r pass[T]) observeOnly(ctx context.Context, obj T) ctrl.Result {
	var o Observation
	err := r.identityError(obj)
	if err == nil {
		if o, err = r.ext.observe(ctx, obj); err == nil {
			err = r.confirm(ctx, obj, o)
		}
	}
	if err != nil {
		return r.markFailed(ctx, obj, err)
	}
	r.markSynced(obj, o)
	return r.driftCheckLater(obj)
}

// reconcileDelete deletes the object in the API when the policy says so,
// then lets the resource go. A resource never bound, orphaned, observed
// only, or a duplicate of an older one leaves without a call; one whose
// object another live resource claims hands it over instead of deleting it.
func (r *managedReconciler[T]) reconcileDelete(ctx context.Context, obj T) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return ctrl.Result{}, nil
	}
	owner, successor, err := r.claimants(ctx, obj)
	if err != nil {
		return ctrl.Result{}, err
	}
	switch p := policies(obj); {
	case owner != nil || p.ManagementPolicy == v1alpha1.ManagementPolicyObserveOnly || !r.ext.recorded(obj).Bound:
	case successor != nil:
		r.event(ctx, obj, corev1.EventTypeNormal, "HandedOver", "left %s in the Onomondo API for %s/%s, which also claims it",
			r.named(obj), successor.GetNamespace(), successor.GetName())
	case p.DeletionPolicy == v1alpha1.DeletionPolicyOrphan:
		r.event(ctx, obj, corev1.EventTypeNormal, "Orphaned", "left %s in the Onomondo API (deletionPolicy: Orphan)", r.named(obj))
	default:
		if res, done := r.deleteInAPI(ctx, obj); !done {
			return res, nil // the finalizer stays: nothing is deleted through an unknown account
		}
	}
	if err := r.releaseClaim(ctx, obj); err != nil {
		return ctrl.Result{}, err // the finalizer stays until the claim is let go
	}
	patch := client.MergeFromWithOptions(obj.DeepCopyObject().(T), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(obj, Finalizer)
	if err := r.Patch(ctx, obj, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.schedule.Forget(client.ObjectKeyFromObject(obj))
	r.justBound.Delete(client.ObjectKeyFromObject(obj))
	return ctrl.Result{}, nil
}

// deleteInAPI deletes the bound object through the resource's account,
// holding its claim first: an object another resource holds the claim on
// (perhaps through another install) is left to it. It reports whether the
// deletion is done, so the finalizer may go.
func (r *managedReconciler[T]) deleteInAPI(ctx context.Context, obj T) (ctrl.Result, bool) {
	p, ctx, err := r.connect(ctx, obj)
	if err == nil {
		err = r.holdClaim(ctx, obj)
	}
	var claimed *claimedError
	if errors.As(err, &claimed) {
		r.event(ctx, obj, corev1.EventTypeNormal, "HandedOver", "left %s in the Onomondo API: it %s",
			r.named(obj), claimed.describe(obj.GetNamespace()))
		return ctrl.Result{}, true
	}
	if err == nil {
		err = p.ext.remove(ctx, obj)
	}
	switch {
	case err == nil:
		verb := "deleted"
		if d, ok := p.ext.(interface{ deactivates() bool }); ok && d.deactivates() {
			verb = "deactivated (the current API never removes a SIM)"
		}
		r.event(ctx, obj, corev1.EventTypeNormal, "Deleted", "%s %s in the Onomondo API", verb, r.named(obj))
	case isGoneForDeletion(err):
		// Nothing was deleted: say so, for whoever swapped the key to
		// another organisation and expected a deletion.
		r.event(ctx, obj, corev1.EventTypeNormal, ReasonAlreadyGone, "%s was not in the Onomondo API account (%s); nothing was deleted",
			r.named(obj), classify(err).reason)
	default:
		return r.markFailed(ctx, obj, err), false
	}
	return ctrl.Result{}, true
}

func policies(obj managedObject) *v1alpha1.ManagedPolicies { p, _ := obj.Managed(); return p }

func status(obj managedObject) *v1alpha1.ManagedStatus { _, s := obj.Managed(); return s }

// inSync: the status says the last reconcile of this generation succeeded.
func inSync(obj managedObject) bool {
	s := status(obj)
	return s.LastError == nil && s.ObservedGeneration == obj.GetGeneration() &&
		meta.IsStatusConditionTrue(s.Conditions, v1alpha1.ConditionSynced)
}

// blockedByTerminalError: a managed resource whose spec only a change can
// fix. An account refusal is no block once the account resolves: the
// refusal was about the namespace or the account, which may have changed.
func blockedByTerminalError(obj managedObject) bool {
	s := status(obj)
	return s.LastError != nil && s.LastError.Terminal && s.ObservedGeneration == obj.GetGeneration() &&
		policies(obj).ManagementPolicy != v1alpha1.ManagementPolicyObserveOnly && !accountRefusal(obj)
}

// accountRefusal: the last failure was the account refusing the resource.
func accountRefusal(obj managedObject) bool {
	c := meta.FindStatusCondition(status(obj).Conditions, v1alpha1.ConditionSynced)
	return c != nil && c.Status == metav1.ConditionFalse && (c.Reason == ReasonAccountNotAllowed || c.Reason == ReasonAccountInvalid)
}

// ensureFinalizer adds the finalizer before the first external write.
func (r *managedReconciler[T]) ensureFinalizer(ctx context.Context, obj T) error {
	if controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	// Patch through the metadata: obj holds the status being built, and the
	// answer needs to give back only the finalizers and resourceVersion.
	withFinalizer := obj.DeepCopyObject().(T)
	controllerutil.AddFinalizer(withFinalizer, Finalizer)
	patch, err := client.MergeFromWithOptions(obj, client.MergeFromWithOptimisticLock{}).Data(withFinalizer)
	if err != nil {
		return err
	}
	m, err := metadataOf(r.Client, obj)
	if err != nil {
		return err
	}
	if err := r.Patch(ctx, m, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return err
	}
	obj.SetFinalizers(m.GetFinalizers())
	obj.SetResourceVersion(m.GetResourceVersion())
	return nil
}

// editioner is a kind whose fields belong to one edition of the API or the
// other: a field of the edition the account does not speak is refused
// before any call.
type editioner[T managedObject] interface {
	editionError(context.Context, T) error
}

// observer is a kind whose objects may exist before their resource (a SIM
// card of the current API always does): the first call reads, never creates.
type observer[T managedObject] interface {
	observeFirst(T) bool
	// absent is the refusal of such an object the API does not have.
	absent(T) error
}

// requester is a kind whose bound objects can be asked to take a new
// identifier (a SIM's number).
type requester[T managedObject] interface {
	requestedKeys(T) []string
}

// named is the kind and ID of the resource's object, as events say it ("SIM 2380…").
func (r *managedReconciler[T]) named(obj T) string {
	return r.ext.kind() + " " + r.ext.identity(obj).ID
}

// event records a Kubernetes event about obj and logs the same line.
func (r *managedReconciler[T]) event(ctx context.Context, obj T, typ, reason, format string, args ...any) {
	recordEvent(ctx, r.recorder, obj, typ, reason, format, args...)
}
