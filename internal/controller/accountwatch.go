package controller

import (
	"context"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// watchAccounts wakes a kind's resources when what decides their account
// changes: an Account or ClusterAccount appearing, changing its spec or
// going (its resources), and a Namespace's labels (its resources: the
// default account's and ClusterAccounts' selectors read them). A resource
// refused for its namespace's labels is retried when they change, with no
// call before. The resources are found by their keys in the cache's
// indexes, without reading them.
func watchAccounts(b *builder.Builder, c cache.Cache, obj client.Object) *builder.Builder {
	byAccount := func(key string) []reconcile.Request {
		return requestsFor(c, obj, accountIndex, key)
	}
	return b.
		Watches(&v1alpha1.Account{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return byAccount(v1alpha1.AccountKey(o.GetNamespace(), &v1alpha1.AccountReference{Kind: "Account", Name: o.GetName()}))
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.ClusterAccount{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return byAccount(v1alpha1.AccountKey("", &v1alpha1.AccountReference{Kind: "ClusterAccount", Name: o.GetName()}))
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return requestsFor(c, obj, "", o.GetName())
		}), builder.WithPredicates(labelsChanged))
}

// labelsChanged passes updates that change an object's labels.
var labelsChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
	},
}

// requestsFor are the requests of obj's kind found by keysAcrossNamespaces.
func requestsFor(c cache.Cache, obj client.Object, field, value string) []reconcile.Request {
	keys, err := keysAcrossNamespaces(c, obj, field, value)
	if err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(keys))
	for _, key := range keys {
		namespace, name, err := toolscache.SplitMetaNamespaceKey(key)
		if err == nil {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: name}})
		}
	}
	return out
}
