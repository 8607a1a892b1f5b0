package controller

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// accountIndex indexes SIMs, Connectors and SMSMessages by their account key.
const accountIndex = "spec.accountKey"

// ReasonKeyPresent: an account's key Secret is readable and holds a key.
const ReasonKeyPresent = "KeyPresent"

// countEvery is how often an account's resource count may be refreshed: a
// fleet's churn must not become a stream of status writes.
const countEvery = time.Minute

// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=accounts;clusteraccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=accounts/status;clusteraccounts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// AccountReconciler reports each Account and ClusterAccount: Ready when its
// key Secret can be read and holds a key, and how many resources use it. A
// deleted account's client is dropped.
type AccountReconciler struct {
	client.Client
	Accounts *Accounts
	cache    cache.Cache // the indexes the resources are counted from
}

// Reconcile handles one Account (namespace set) or ClusterAccount.
func (r *AccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var obj client.Object
	var spec v1alpha1.AccountSpec
	var st *v1alpha1.AccountStatus
	var key string
	secret := types.NamespacedName{}
	if req.Namespace != "" {
		a := &v1alpha1.Account{}
		obj, st, key = a, &a.Status, v1alpha1.AccountKey(req.Namespace, &v1alpha1.AccountReference{Kind: "Account", Name: req.Name})
		if err := r.Get(ctx, req.NamespacedName, a); err != nil {
			return r.gone(key, err)
		}
		spec, secret = a.Spec, types.NamespacedName{Namespace: a.Namespace, Name: a.Spec.APIKeySecretRef.Name}
	} else {
		a := &v1alpha1.ClusterAccount{}
		obj, st, key = a, &a.Status, v1alpha1.AccountKey("", &v1alpha1.AccountReference{Kind: "ClusterAccount", Name: req.Name})
		if err := r.Get(ctx, req.NamespacedName, a); err != nil {
			return r.gone(key, err)
		}
		spec, secret = a.Spec.AccountSpec, types.NamespacedName{Namespace: a.Spec.APIKeySecretRef.Namespace, Name: a.Spec.APIKeySecretRef.Name}
	}
	before := st.DeepCopy()
	st.ObservedGeneration = obj.GetGeneration()
	cond := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonKeyPresent,
		Message: "the API key Secret is readable and holds a key", ObservedGeneration: obj.GetGeneration()}
	if _, err := r.Accounts.ReadKey(ctx, secret, spec.APIKeySecretRef.Key); err != nil {
		var ae *accountError
		if !errors.As(err, &ae) {
			return ctrl.Result{}, err
		}
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ae.Reason, ae.Msg
	} else if rejected(r.Accounts.Existing(key)) {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, ReasonCredentialsRejected,
			"the API refused the key at the last call: put a valid key in the Secret"
	}
	meta.SetStatusCondition(&st.Conditions, cond)
	n, err := r.count(key)
	if err != nil {
		return ctrl.Result{}, err
	}
	st.Resources = n
	if _, err := (statusWriter{r.Client}).changed(ctx, obj, before, st); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: countEvery}, nil
}

// rejected: the account's last answer refused the key.
func rejected(api *onomondo.Client) bool {
	if api == nil {
		return false
	}
	status, code := api.LastAnswer()
	return status != 0 && classify(&onomondo.APIError{StatusCode: status, Code: code}).credentials
}

func (r *AccountReconciler) gone(key string, err error) (ctrl.Result, error) {
	if apierrors.IsNotFound(err) {
		r.Accounts.Forget(key)
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, err
}

// count is how many SIMs, Connectors and SMSMessages name the account,
// counted from the account index's keys.
func (r *AccountReconciler) count(key string) (int32, error) {
	var n int
	for _, obj := range []client.Object{&v1alpha1.SIM{}, &v1alpha1.Connector{}, &v1alpha1.SMSMessage{}} {
		keys, err := keysAcrossNamespaces(r.cache, obj, accountIndex, key)
		if err != nil {
			return 0, err
		}
		n += len(keys)
	}
	return int32(n), nil
}

// SetupWithManager indexes the resources by account and watches both kinds.
func (r *AccountReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.cache = mgr.GetCache()
	for obj, key := range map[client.Object]func(client.Object) string{
		&v1alpha1.SIM{}: func(o client.Object) string {
			return v1alpha1.AccountKey(o.GetNamespace(), o.(*v1alpha1.SIM).Spec.AccountRef)
		},
		&v1alpha1.Connector{}: func(o client.Object) string {
			return v1alpha1.AccountKey(o.GetNamespace(), o.(*v1alpha1.Connector).Spec.AccountRef)
		},
		&v1alpha1.SMSMessage{}: func(o client.Object) string {
			return v1alpha1.AccountKey(o.GetNamespace(), o.(*v1alpha1.SMSMessage).Spec.AccountRef)
		},
	} {
		if err := indexAcrossNamespaces(r.cache, obj, accountIndex,
			func(o client.Object) []string { return []string{key(o)} }); err != nil {
			return err
		}
	}
	if err := ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.Account{}).Named("account").Complete(r); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).For(&v1alpha1.ClusterAccount{}).Named("clusteraccount").Complete(r)
}
