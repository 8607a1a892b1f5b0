package controller

import (
	"context"
	"encoding/json"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// Status discipline: every reconciler writes status through statusWriter,
// once per reconcile, in one of two ways. A managed resource or an account
// writes a merge patch of status alone, only when status changed, so a
// steady state writes nothing. An SMSMessage writes its status carrying the
// resourceVersion its decision was made on (its "sending" marker before the
// POST, then the outcome), so a concurrent writer makes the write fail with
// a conflict instead of being overwritten: that is what keeps a message
// from going out twice.

// statusWriter writes status, the one way each kind of reconcile does.
type statusWriter struct{ c client.Client }

// changed writes status as a merge patch from one status to another, only
// when they differ (wrote). A resource deleted meanwhile is no error.
func (w statusWriter) changed(ctx context.Context, obj client.Object, from, to any) (wrote bool, err error) {
	if equality.Semantic.DeepEqual(from, to) {
		return false, nil
	}
	patch, err := statusPatch(from, to)
	if err != nil {
		return false, err
	}
	m, err := metadataOf(w.c, obj)
	if err != nil {
		return false, err
	}
	err = w.c.Status().Patch(ctx, m, client.RawPatch(types.MergePatchType, patch))
	return err == nil, client.IgnoreNotFound(err)
}

// metadataOf addresses obj as a PartialObjectMetadata: a write through it
// is answered with the object's metadata only, which the apiserver encodes
// and the manager decodes at a fraction of the whole object's cost (the
// answer to a write the reconciler makes last is never read).
func metadataOf(c client.Client, obj client.Object) (*metav1.PartialObjectMetadata, error) {
	gvk, err := apiutil.GVKForObject(obj, c.Scheme())
	if err != nil {
		return nil, err
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	m.SetNamespace(obj.GetNamespace())
	m.SetName(obj.GetName())
	return m, nil
}

// locked writes the object's status as it is, with the resourceVersion it
// was read at: a conflict if anyone wrote the object since.
func (w statusWriter) locked(ctx context.Context, obj client.Object) error {
	return w.c.Status().Update(ctx, obj)
}

// patchStatus writes the resource's status once, and only when it changed (wrote).
func (r *managedReconciler[T]) patchStatus(ctx context.Context, orig, obj T) (wrote bool, err error) {
	return statusWriter{r.Client}.changed(ctx, obj, r.ext.status(orig), r.ext.status(obj))
}

// statusPatch is the JSON merge patch from one status to another.
func statusPatch(from, to any) ([]byte, error) {
	before, err := json.Marshal(map[string]any{"status": from})
	if err != nil {
		return nil, err
	}
	after, err := json.Marshal(map[string]any{"status": to})
	if err != nil {
		return nil, err
	}
	return jsonpatch.CreateMergePatch(before, after)
}
