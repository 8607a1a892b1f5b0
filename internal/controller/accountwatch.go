package controller

import (
	"context"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
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
// call before.
func watchAccounts(b *builder.Builder, c client.Reader, newList func() client.ObjectList) *builder.Builder {
	byAccount := func(key string) []reconcile.Request {
		return requestsFor(c, newList, client.MatchingFields{accountIndex: key})
	}
	return b.
		Watches(&v1alpha1.Account{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return byAccount(v1alpha1.AccountKey(o.GetNamespace(), &v1alpha1.AccountReference{Kind: "Account", Name: o.GetName()}))
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.ClusterAccount{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return byAccount(v1alpha1.AccountKey("", &v1alpha1.AccountReference{Kind: "ClusterAccount", Name: o.GetName()}))
		}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return requestsFor(c, newList, client.InNamespace(o.GetName()))
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

// requestsFor lists the resources matching opts from the cache, as requests.
func requestsFor(c client.Reader, newList func() client.ObjectList, opts ...client.ListOption) []reconcile.Request {
	list := newList()
	if err := c.List(context.Background(), list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		return nil
	}
	items, _ := meta.ExtractList(list)
	out := make([]reconcile.Request, 0, len(items))
	for _, item := range items {
		o := item.(client.Object)
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}})
	}
	return out
}
