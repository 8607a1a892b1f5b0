package accounts

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// The account decisions, without an apiserver: which account a resource may
// use, and why not.
func TestAccountResolution(t *testing.T) {
	secret := func(ns, name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{"apiKey": []byte("k")}}
	}
	spec := func(secret string) v1alpha1.AccountSpec {
		return v1alpha1.AccountSpec{APIURL: "https://api.example.com", APIKeySecretRef: v1alpha1.SecretKeyReference{Name: secret}, Rate: 10, Burst: 10}
	}
	shared := &v1alpha1.ClusterAccount{ObjectMeta: metav1.ObjectMeta{Name: "shared"}, Spec: v1alpha1.ClusterAccountSpec{
		AccountSpec:       spec("shared-key"),
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"shared": "yes"}}}}
	shared.Spec.APIKeySecretRef.Namespace = "platform"
	nobody := &v1alpha1.ClusterAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}, Spec: v1alpha1.ClusterAccountSpec{AccountSpec: spec("shared-key")}}
	nobody.Spec.APIKeySecretRef.Namespace = "platform"
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"shared": "yes"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b"}},
		&v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "a"}, Spec: spec("key-a")},
		&v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "b"}, Spec: spec("missing")},
		&v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: "team-b", Name: "locked"}, Spec: spec("locked")},
		shared, nobody, secret("team-a", "key-a"), secret("platform", "shared-key"), secret("team-b", "locked"),
	}
	forbidLocked := interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if key.Name == "locked" && key.Namespace == "team-b" {
			if _, ok := obj.(*corev1.Secret); ok {
				return apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, key.Name, errors.New("no RoleBinding"))
			}
		}
		return c.Get(ctx, key, obj, opts...)
	}}
	c := fakeClient(forbidLocked, objs...)
	def, err := onomondo.New(onomondo.Config{APIKey: "default"})
	if err != nil {
		t.Fatal(err)
	}
	a := &Accounts{Client: c, Reader: c, Default: def, KeyTTL: time.Minute}
	for _, tc := range []struct {
		name, namespace string
		ref             *v1alpha1.AccountReference
		want            string // "" resolves, "default" is the default client, else the reason
	}{
		{"no reference: the default account", "team-b", nil, "default"},
		{"the namespace's own Account", "team-a", &v1alpha1.AccountReference{Kind: "Account", Name: "a"}, ""},
		{"another namespace's Account", "team-b", &v1alpha1.AccountReference{Kind: "Account", Name: "a", Namespace: "team-a"}, ReasonAccountNotAllowed},
		{"an Account that does not exist here", "team-b", &v1alpha1.AccountReference{Kind: "Account", Name: "a"}, ReasonAccountNotFound},
		{"a key Secret that does not exist", "team-b", &v1alpha1.AccountReference{Kind: "Account", Name: "b"}, ReasonSecretNotFound},
		{"a key Secret the operator may not read", "team-b", &v1alpha1.AccountReference{Kind: "Account", Name: "locked"}, ReasonSecretForbidden},
		{"a ClusterAccount that selects the namespace", "team-a", &v1alpha1.AccountReference{Kind: "ClusterAccount", Name: "shared"}, ""},
		{"a ClusterAccount that does not", "team-b", &v1alpha1.AccountReference{Kind: "ClusterAccount", Name: "shared"}, ReasonAccountNotAllowed},
		{"a ClusterAccount with no selector selects none", "team-a", &v1alpha1.AccountReference{Kind: "ClusterAccount", Name: "nobody"}, ReasonAccountNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api, err := a.Resolve(context.Background(), tc.namespace, tc.ref)
			var ae *Error
			switch {
			case tc.want == "default" && api != def:
				t.Errorf("got %v, %v; want the default client", api, err)
			case tc.want == "" && (err != nil || api == nil || api == def):
				t.Errorf("got %v, %v; want the account's own client", api, err)
			case tc.want != "" && tc.want != "default" && (!errors.As(err, &ae) || ae.Reason != tc.want):
				t.Errorf("got %v; want %s", err, tc.want)
			}
		})
	}

	t.Run("one client per account, kept until the account goes", func(t *testing.T) {
		ref := &v1alpha1.AccountReference{Kind: "Account", Name: "a"}
		first, _ := a.Resolve(context.Background(), "team-a", ref)
		again, _ := a.Resolve(context.Background(), "team-a", ref)
		if first != again {
			t.Error("a second resolve made a second client (and a second budget)")
		}
		a.Forget(v1alpha1.AccountKey("team-a", ref))
		if fresh, _ := a.Resolve(context.Background(), "team-a", ref); fresh == first {
			t.Error("a forgotten account kept its client")
		}
	})

	t.Run("no default account: a resource must name one", func(t *testing.T) {
		off := &Accounts{Client: c, Reader: c, KeyTTL: time.Minute}
		var ae *Error
		if _, err := off.Resolve(context.Background(), "team-a", nil); !errors.As(err, &ae) || ae.Reason != ReasonAccountNotAllowed {
			t.Errorf("got %v, want AccountNotAllowed", err)
		}
	})
}

// fakeClient is an apiserver in memory holding objs.
func fakeClient(intercept interceptor.Funcs, objs ...client.Object) client.WithWatch {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	return fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(intercept).WithObjects(objs...).Build()
}
