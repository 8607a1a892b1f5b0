package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// KeySetter takes a new API key.
type KeySetter interface{ SetAPIKey(string) }

// APIKeyReconciler hands the API key to the client whenever its Secret changes.
type APIKeyReconciler struct {
	client.Client
	Secret types.NamespacedName
	API    KeySetter
	// OnChange runs after a new key is set: the controllers retry at once
	// the resources the old key failed for.
	OnChange []func(context.Context)
}

// The Secret is read in the operator's own namespace only: a Role, not a ClusterRole.
// +kubebuilder:rbac:groups="",namespace=sim-operator-system,resources=secrets,verbs=get;list;watch

// Reconcile copies data.apiKey into the client; a missing Secret or key keeps the old key.
func (r *APIKeyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var s corev1.Secret
	if err := r.Get(ctx, req.NamespacedName, &s); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if key := string(s.Data["apiKey"]); key != "" {
		r.API.SetAPIKey(key)
		logf.FromContext(ctx).Info("API key loaded from Secret", "secret", req.NamespacedName.String())
		for _, f := range r.OnChange {
			f(ctx)
		}
	}
	return ctrl.Result{}, nil
}

// SetupWithManager watches the one Secret.
func (r *APIKeyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Secret{}, builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetNamespace() == r.Secret.Namespace && o.GetName() == r.Secret.Name
		}))).
		Named("apikey").
		Complete(r)
}
