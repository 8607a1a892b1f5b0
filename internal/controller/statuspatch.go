package controller

import (
	"context"
	"encoding/json"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The one status write of a reconcile: a merge patch of status alone,
// sent only when status changed.

// patchStatus writes status once, and only when it changed. The patch is
// the difference of status alone: the finalizer write earlier in the same
// reconcile moved metadata, and a whole-object diff would carry its
// resourceVersion, turning the status write into an optimistic lock.
func (r *managedReconciler[T]) patchStatus(ctx context.Context, orig, obj T) error {
	if equality.Semantic.DeepEqual(r.ext.status(orig), r.ext.status(obj)) {
		return nil
	}
	patch, err := statusPatch(r.ext.status(orig), r.ext.status(obj))
	if err != nil {
		return err
	}
	return client.IgnoreNotFound(r.Status().Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)))
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
