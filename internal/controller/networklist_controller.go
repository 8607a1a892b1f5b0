package controller

import (
	"context"
	"errors"
	"slices"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/accounts"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// NetworkListAPI is what the NetworkList controller needs of the client.
type NetworkListAPI interface {
	Current() bool
	GetNetworkList(ctx context.Context, name string) (*onomondo.NetworkList, error)
	CreateNetworkList(ctx context.Context, l onomondo.NetworkList) error
	UpdateNetworkList(ctx context.Context, l onomondo.NetworkList) error
	DeleteNetworkList(ctx context.Context, name string) error
	ListTags(ctx context.Context) ([]onomondo.Tag, error)
}

// ReasonInUse: the API keeps a list that SIMs still use; the deletion is
// retried with backoff until they leave it.
const ReasonInUse = "InUse"

// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=networklists,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=networklists/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=networklists/finalizers,verbs=update

// NewNetworkListController makes network lists in the Onomondo API (Current
// edition) match NetworkList resources, with the machinery of SIMs.
func NewNetworkListController(c client.Client, api NetworkListAPI, rec recorder.EventRecorder, o ManagedOptions) *ManagedController[*v1alpha1.NetworkList] {
	return &ManagedController[*v1alpha1.NetworkList]{r: newManagedReconciler[*v1alpha1.NetworkList](c,
		networkListExternal{api: api, tags: &tagCache{}},
		func() *v1alpha1.NetworkList { return &v1alpha1.NetworkList{} }, func() client.ObjectList { return &v1alpha1.NetworkListList{} }, rec, o),
		name: "networklist", opts: o}
}

// networkListExternal is the NetworkList's half of the managed reconciler.
type networkListExternal struct {
	api  NetworkListAPI
	tags *tagCache
}

func (networkListExternal) kind() string { return "NetworkList" }
func (e networkListExternal) connect(api *onomondo.Client) external[*v1alpha1.NetworkList] {
	e.api = api
	return e
}

// identity: a list's name is its whole identity.
func (networkListExternal) identity(n *v1alpha1.NetworkList) identity {
	var keys []string
	if !accounts.ForeignAccount(n.Namespace, n.Spec.AccountRef) {
		keys = []string{v1alpha1.AccountKey(n.Namespace, n.Spec.AccountRef) + "|networklist:" + n.ListName()}
	}
	return identity{ID: n.ListName(), Claim: "name:" + n.ListName(), Keys: keys, Log: []any{"networkList", n.ListName()}}
}

func (networkListExternal) status(n *v1alpha1.NetworkList) any { return n.Status }
func (networkListExternal) exists(err error) bool              { return onomondo.IsCode(err, "name_conflict") }
func (e networkListExternal) editionError(ctx context.Context, n *v1alpha1.NetworkList) error {
	if e.api.Current() {
		return nil
	}
	return &specError{reason: ReasonNotInEdition, msg: "NetworkList is a kind of the Current edition; this resource's account speaks the Legacy API: no call is made"}
}

// recorded: the list differs unless its networks are the spec's (in any
// order), and its tags the spec's when the spec manages them. A list's
// name is its whole identity and immutable: bound once observed.
func (networkListExternal) recorded(n *v1alpha1.NetworkList) Observation {
	o := n.Status.AtProvider
	if o == nil {
		return Observation{Description: "nothing yet"}
	}
	var d differences
	addList(&d, "networks", sortedNetworks(o.Networks), sortedNetworks(n.Spec.Networks))
	if n.Spec.Tags != nil {
		addList(&d, "tags", o.Tags, slices.Sorted(slices.Values(n.Spec.Tags)))
	}
	return Observation{Exists: true, Bound: true, Diff: d, Description: "networks " + strings.Join(sortedNetworks(o.Networks), ",")}
}

func sortedNetworks(ns []v1alpha1.NetworkRef) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, n.MCC+"-"+n.MNC)
	}
	slices.Sort(out)
	return out
}

// wire is the list to send: the spec's networks and, when managed, its tags' IDs.
func (e networkListExternal) wire(ctx context.Context, n *v1alpha1.NetworkList) (onomondo.NetworkList, error) {
	l := onomondo.NetworkList{Name: n.ListName()}
	for _, ref := range n.Spec.Networks {
		r := onomondo.NetworkRef{MCC: ref.MCC}
		if ref.MNC != "" {
			r.MNC = ptrTo(ref.MNC)
		}
		l.Networks = append(l.Networks, r)
	}
	if l.Networks == nil {
		l.Networks = []onomondo.NetworkRef{}
	}
	if n.Spec.Tags != nil {
		ids, err := e.tags.resolve(ctx, e.api, n.Spec.Tags)
		if err != nil {
			return l, err
		}
		l.TagIDs = ids
	} else if o := n.Status.AtProvider; o != nil && len(o.Tags) > 0 {
		ids, err := e.tags.resolve(ctx, e.api, o.Tags) // unmanaged: keep what the list has (the API replaces tags whole)
		if err != nil {
			return l, err
		}
		l.TagIDs = ids
	}
	return l, nil
}

func (e networkListExternal) create(ctx context.Context, n *v1alpha1.NetworkList) (Observation, error) {
	return result(e, n, e.send(ctx, n, e.api.CreateNetworkList))
}

func (e networkListExternal) update(ctx context.Context, n *v1alpha1.NetworkList) (Observation, error) {
	return result(e, n, e.send(ctx, n, e.api.UpdateNetworkList))
}

// send writes the whole list (the API replaces it whole) with call.
func (e networkListExternal) send(ctx context.Context, n *v1alpha1.NetworkList, call func(context.Context, onomondo.NetworkList) error) error {
	l, err := e.wire(ctx, n)
	if err == nil {
		err = call(ctx, l)
	}
	return e.written(n, err)
}

// written records an accepted list as what the API now holds.
func (networkListExternal) written(n *v1alpha1.NetworkList, err error) error {
	if err != nil {
		return err
	}
	o := &v1alpha1.NetworkListObservation{Networks: n.Spec.Networks}
	if n.Spec.Tags != nil {
		o.Tags = slices.Sorted(slices.Values(n.Spec.Tags))
	} else if n.Status.AtProvider != nil {
		o.Tags = n.Status.AtProvider.Tags
	}
	n.Status.AtProvider = o
	return nil
}

func (e networkListExternal) observe(ctx context.Context, n *v1alpha1.NetworkList) (Observation, error) {
	l, err := e.api.GetNetworkList(ctx, n.ListName())
	if err != nil {
		return Observation{}, err
	}
	o := &v1alpha1.NetworkListObservation{Tags: []string{}}
	for _, r := range l.Networks {
		o.Networks = append(o.Networks, v1alpha1.NetworkRef{MCC: r.MCC, MNC: deref(r.MNC)})
	}
	for _, t := range l.Tags {
		o.Tags = append(o.Tags, t.Name)
	}
	slices.Sort(o.Tags)
	n.Status.AtProvider = o
	return e.recorded(n), nil
}

func (e networkListExternal) remove(ctx context.Context, n *v1alpha1.NetworkList) error {
	err := e.api.DeleteNetworkList(ctx, n.ListName())
	if strings.HasSuffix(codeOf(err), "_in_use") {
		return &inUseError{err: err}
	}
	return err
}

// inUseError: the API keeps an object that others still use; retried.
type inUseError struct{ err error }

func (e *inUseError) Error() string {
	return e.err.Error() + " (SIMs still use the list: detach them first)"
}
func (e *inUseError) Unwrap() error { return e.err }

// codeOf is the API's code of an error, "" if none.
func codeOf(err error) string {
	var e *onomondo.APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
