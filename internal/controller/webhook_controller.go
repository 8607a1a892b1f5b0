package controller

import (
	"context"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/accounts"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// WebhookAPI is what the Webhook controller needs of the client.
type WebhookAPI interface {
	Current() bool
	ListWebhooks(ctx context.Context) ([]onomondo.Webhook, error)
	GetWebhook(ctx context.Context, id string) (*onomondo.Webhook, error)
	CreateWebhook(ctx context.Context, w onomondo.Webhook) (string, error)
	UpdateWebhook(ctx context.Context, w onomondo.Webhook) error
	DeleteWebhook(ctx context.Context, id string) error
	ListTags(ctx context.Context) ([]onomondo.Tag, error)
}

// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=webhooks,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=webhooks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=webhooks/finalizers,verbs=update

// NewWebhookController makes webhooks in the Onomondo API (Current edition)
// match Webhook resources, with the machinery of SIMs. The ID the API
// returns on create is the binding; at most one POST per resource, ever.
func NewWebhookController(c client.Client, api WebhookAPI, rec recorder.EventRecorder, o ManagedOptions) *ManagedController[*v1alpha1.Webhook] {
	return &ManagedController[*v1alpha1.Webhook]{r: newManagedReconciler[*v1alpha1.Webhook](c,
		webhookExternal{api: api, tags: &tagCache{}},
		func() *v1alpha1.Webhook { return &v1alpha1.Webhook{} }, func() client.ObjectList { return &v1alpha1.WebhookList{} }, rec, o),
		name: "webhook", opts: o}
}

// webhookExternal is the Webhook's half of the managed reconciler.
type webhookExternal struct {
	api  WebhookAPI
	tags *tagCache
}

func (webhookExternal) kind() string { return "Webhook" }
func (e webhookExternal) connect(api *onomondo.Client) external[*v1alpha1.Webhook] {
	e.api = api
	return e
}

// identity: a webhook is addressed by the ID the API gave it, and claimed
// by its url and label until it has one.
func (e webhookExternal) identity(w *v1alpha1.Webhook) identity {
	return identity{ID: w.Status.ID, Claim: webhookClaimID(w), Keys: webhookClaimKeys(w), Log: []any{"webhook", w.Status.ID}}
}

// claimKeys: before its create, a webhook is known by its url and label
// (two resources for one webhook meet there); once bound, by its ID too.
func webhookClaimKeys(w *v1alpha1.Webhook) []string {
	if accounts.ForeignAccount(w.Namespace, w.Spec.AccountRef) {
		return nil
	}
	acct := v1alpha1.AccountKey(w.Namespace, w.Spec.AccountRef) + "|"
	keys := []string{acct + "webhook:" + w.Spec.URL + "#" + w.Spec.Label}
	if w.Status.ID != "" {
		keys = append(keys, acct+"webhook-id:"+w.Status.ID)
	}
	return keys
}

func webhookClaimID(w *v1alpha1.Webhook) string {
	if w.Status.ID != "" {
		return "id:" + w.Status.ID
	}
	return "url:" + w.Spec.URL + "#" + w.Spec.Label
}

func (webhookExternal) status(w *v1alpha1.Webhook) any { return w.Status }

func (e webhookExternal) editionError(ctx context.Context, _ *v1alpha1.Webhook) error {
	if e.api.Current() {
		return nil
	}
	return &specError{reason: ReasonNotInEdition, msg: "Webhook is a kind of the Current edition; this resource's account speaks the Legacy API: no call is made"}
}

func active(w *v1alpha1.Webhook) bool { return w.Spec.Active == nil || *w.Spec.Active }

// recorded compares what the spec sets with what the API reports; a
// webhook is bound once the API gave it an ID.
func (webhookExternal) recorded(w *v1alpha1.Webhook) Observation {
	o := w.Status.AtProvider
	if o == nil {
		return Observation{Bound: w.Status.ID != "", Description: "nothing yet"}
	}
	var d differences
	d.add("url", o.URL, w.Spec.URL)
	d.add("label", o.Label, w.Spec.Label)
	d.add("active", o.Active, active(w))
	addList(&d, "excludeTypes", slices.Sorted(slices.Values(o.ExcludeTypes)), slices.Sorted(slices.Values(w.Spec.ExcludeTypes)))
	if w.Spec.Tags != nil {
		addList(&d, "tags", o.Tags, slices.Sorted(slices.Values(w.Spec.Tags)))
	}
	desc := o.URL + " (inactive)"
	if o.Active {
		desc = o.URL + " (active)"
	}
	return Observation{Exists: true, Bound: w.Status.ID != "", Diff: d, Description: desc}
}

// wire is the webhook to send.
func (e webhookExternal) wire(ctx context.Context, w *v1alpha1.Webhook) (onomondo.Webhook, error) {
	out := onomondo.Webhook{ID: w.Status.ID, URL: w.Spec.URL, Label: w.Spec.Label, Active: active(w), ExcludeTypes: []string{}, Tags: []string{}}
	for _, t := range w.Spec.ExcludeTypes {
		out.ExcludeTypes = append(out.ExcludeTypes, string(t))
	}
	names := w.Spec.Tags
	if names == nil && w.Status.AtProvider != nil {
		names = w.Status.AtProvider.Tags // unmanaged: keep what the webhook has
	}
	if len(names) > 0 {
		ids, err := e.tags.resolve(ctx, e.api, names)
		if err != nil {
			return out, err
		}
		out.Tags = ids
	}
	return out, nil
}

func (e webhookExternal) create(ctx context.Context, w *v1alpha1.Webhook) (Observation, error) {
	return result(e, w, e.post(ctx, w))
}

// post finds, by listing, a webhook of this url and label (a create
// whose answer was lost, or one made by hand) before it POSTs: at most one
// POST per resource, ever.
func (e webhookExternal) post(ctx context.Context, w *v1alpha1.Webhook) error {
	all, err := e.api.ListWebhooks(ctx)
	if err != nil {
		return err
	}
	for i := range all {
		if all[i].URL == w.Spec.URL && all[i].Label == w.Spec.Label {
			w.Status.ID = all[i].ID
			w.Status.AtProvider = webhookObservation(&all[i])
			return nil
		}
	}
	body, err := e.wire(ctx, w)
	if err != nil {
		return err
	}
	id, err := e.api.CreateWebhook(ctx, body)
	if err != nil {
		return err
	}
	w.Status.ID = id
	e.written(w)
	return nil
}

func (e webhookExternal) update(ctx context.Context, w *v1alpha1.Webhook) (Observation, error) {
	body, err := e.wire(ctx, w)
	if err == nil {
		err = e.api.UpdateWebhook(ctx, body)
	}
	if err == nil {
		e.written(w)
	}
	return result(e, w, err)
}

// written records the spec as what the API now holds.
func (webhookExternal) written(w *v1alpha1.Webhook) {
	o := &v1alpha1.WebhookObservation{URL: w.Spec.URL, Label: w.Spec.Label, Active: active(w), ExcludeTypes: w.Spec.ExcludeTypes}
	if w.Spec.Tags != nil {
		o.Tags = slices.Sorted(slices.Values(w.Spec.Tags))
	} else if w.Status.AtProvider != nil {
		o.Tags = w.Status.AtProvider.Tags
	}
	w.Status.AtProvider = o
}

func webhookObservation(h *onomondo.Webhook) *v1alpha1.WebhookObservation {
	o := &v1alpha1.WebhookObservation{URL: h.URL, Label: h.Label, Active: h.Active, Tags: slices.Sorted(slices.Values(h.TagNames))}
	for _, t := range h.ExcludeTypes {
		o.ExcludeTypes = append(o.ExcludeTypes, v1alpha1.WebhookEventType(t))
	}
	return o
}

func (e webhookExternal) observe(ctx context.Context, w *v1alpha1.Webhook) (Observation, error) {
	return result(e, w, e.get(ctx, w))
}

// get reads the bound webhook, or finds one of the spec's url and label.
func (e webhookExternal) get(ctx context.Context, w *v1alpha1.Webhook) error {
	if w.Status.ID == "" { // never bound: find it by url and label, never create it here
		all, err := e.api.ListWebhooks(ctx)
		if err != nil {
			return err
		}
		for i := range all {
			if all[i].URL == w.Spec.URL && all[i].Label == w.Spec.Label {
				w.Status.ID, w.Status.AtProvider = all[i].ID, webhookObservation(&all[i])
				return nil
			}
		}
		return &onomondo.APIError{Method: "GET", Route: onomondo.RouteWebhooks, StatusCode: 404, Code: "webhook_not_found",
			Message: "no webhook has this url and label"}
	}
	h, err := e.api.GetWebhook(ctx, w.Status.ID)
	if err == nil {
		w.Status.AtProvider = webhookObservation(h)
	}
	return err
}

func (e webhookExternal) remove(ctx context.Context, w *v1alpha1.Webhook) error {
	return e.api.DeleteWebhook(ctx, w.Status.ID)
}
