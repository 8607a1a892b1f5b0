// Package accounts resolves a resource's account to an API client: the
// flag-configured default account for the namespaces it serves, an Account
// in the resource's namespace, or a ClusterAccount that selects it; one
// client (URL, key, budget, edition) per account. It is also the one reader
// of API keys: the default account's poller, Accounts and kubectl sim all
// read a key Secret through ReadAPIKey.
package accounts

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// Reasons a resource's account cannot be used.
const (
	ReasonAccountNotFound   = "AccountNotFound"
	ReasonAccountNotAllowed = "AccountNotAllowed"
	ReasonSecretNotFound    = "SecretNotFound"
	ReasonSecretForbidden   = "SecretForbidden"
	ReasonAccountInvalid    = "AccountInvalid"
)

// Error says why a resource's account cannot be used; no call is made.
type Error struct {
	// Reason is the condition reason (AccountNotFound, SecretForbidden, …).
	Reason string
	// Msg says what is wrong and how to fix it.
	Msg string
	// Terminal: only a spec change (or the account's) can fix it.
	Terminal bool
}

func (e *Error) Error() string { return e.Msg }

// Accounts resolves a resource's account to an API client with the
// account's own URL, key and rate budget. A client is made when an account
// is first used, remade when its spec changes, and dropped when it goes;
// budgets are per client, so one saturated account never delays another.
type Accounts struct {
	// Client reads Accounts, ClusterAccounts and Namespaces (cached).
	Client client.Client
	// Reader reads the key Secrets, one get on the named object each.
	Reader client.Reader
	// Default is the flag-configured account's client; nil turns it off.
	Default *onomondo.Client
	// DefaultNamespaces selects the namespaces whose resources may use the
	// default account; nil selects every namespace (tests), and the
	// manager's default, labels.Nothing(), none.
	DefaultNamespaces labels.Selector
	// Metrics are shared by every account's client.
	Metrics *onomondo.Metrics
	// Timeout bounds one API call.
	Timeout time.Duration
	// KeyTTL is how long a key read from its Secret is used before it is
	// read again (so that a rotated key takes effect).
	KeyTTL time.Duration
	// MaxRetryAfter caps every wait the API dictates to an account's client.
	MaxRetryAfter time.Duration

	mu      sync.Mutex
	clients map[string]*accountClient
}

type accountClient struct {
	api    *onomondo.Client
	spec   v1alpha1.AccountSpec
	secret types.NamespacedName
	key    string
	readAt time.Time
}

// Resolve returns the client the resource's calls go through.
func (a *Accounts) Resolve(ctx context.Context, namespace string, ref *v1alpha1.AccountReference) (*onomondo.Client, error) {
	if ref == nil {
		return a.defaultAccount(ctx, namespace)
	}
	spec, secret, err := a.lookup(ctx, namespace, ref)
	if err != nil {
		return nil, err
	}
	return a.client(ctx, v1alpha1.AccountKey(namespace, ref), spec, secret)
}

// defaultAccount is the flag-configured account's client, for the
// namespaces its selector names only.
func (a *Accounts) defaultAccount(ctx context.Context, namespace string) (*onomondo.Client, error) {
	if a.Default == nil {
		return nil, &Error{Reason: ReasonAccountNotAllowed, Terminal: true,
			Msg: "the operator's default account is turned off: set spec.accountRef"}
	}
	if a.DefaultNamespaces == nil {
		return a.Default, nil
	}
	var ns corev1.Namespace
	if err := a.Client.Get(ctx, client.ObjectKey{Name: namespace}, &ns); client.IgnoreNotFound(err) != nil {
		return nil, err
	}
	if !a.DefaultNamespaces.Matches(labels.Set(ns.Labels)) {
		return nil, &Error{Reason: ReasonAccountNotAllowed, Terminal: true, Msg: fmt.Sprintf(
			"namespace %s may not use the operator's default account (namespace selector: %s): set spec.accountRef to an Account "+
				"or ClusterAccount, or have the installer allow the namespace with --default-account-namespace-selector "+
				"(chart value accounts.defaultAccountNamespaceSelector), e.g. \"kubernetes.io/metadata.name in (%s)\"",
			namespace, cmp.Or(a.DefaultNamespaces.String(), "none"), namespace)}
	}
	return a.Default, nil
}

// lookup finds the account and checks that the namespace may use it.
func (a *Accounts) lookup(ctx context.Context, namespace string, ref *v1alpha1.AccountReference) (v1alpha1.AccountSpec, types.NamespacedName, error) {
	notFound := func(err error) error {
		if apierrors.IsNotFound(err) {
			return &Error{Reason: ReasonAccountNotFound, Msg: fmt.Sprintf("%s %s does not exist", ref.Kind, ref.Name)}
		}
		return err
	}
	if ref.Kind != "ClusterAccount" {
		if ref.Namespace != "" && ref.Namespace != namespace {
			return v1alpha1.AccountSpec{}, types.NamespacedName{}, &Error{Reason: ReasonAccountNotAllowed, Terminal: true,
				Msg: fmt.Sprintf("Account %s/%s serves only namespace %s; use one in %s or a ClusterAccount", ref.Namespace, ref.Name, ref.Namespace, namespace)}
		}
		var acct v1alpha1.Account
		if err := a.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, &acct); err != nil {
			return v1alpha1.AccountSpec{}, types.NamespacedName{}, notFound(err)
		}
		return acct.Spec, types.NamespacedName{Namespace: namespace, Name: acct.Spec.APIKeySecretRef.Name}, nil
	}
	var acct v1alpha1.ClusterAccount
	if err := a.Client.Get(ctx, client.ObjectKey{Name: ref.Name}, &acct); err != nil {
		return v1alpha1.AccountSpec{}, types.NamespacedName{}, notFound(err)
	}
	allowed, err := a.selects(ctx, acct.Spec.NamespaceSelector, namespace)
	if err != nil {
		return v1alpha1.AccountSpec{}, types.NamespacedName{}, err
	}
	if !allowed {
		return v1alpha1.AccountSpec{}, types.NamespacedName{}, &Error{Reason: ReasonAccountNotAllowed, Terminal: true,
			Msg: fmt.Sprintf("ClusterAccount %s does not select namespace %s", ref.Name, namespace)}
	}
	return acct.Spec.AccountSpec, types.NamespacedName{Namespace: acct.Spec.APIKeySecretRef.Namespace, Name: acct.Spec.APIKeySecretRef.Name}, nil
}

// selects: an empty selector selects no namespace.
func (a *Accounts) selects(ctx context.Context, sel *metav1.LabelSelector, namespace string) (bool, error) {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, nil
	}
	var ns corev1.Namespace
	if err := a.Client.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return s.Matches(labels.Set(ns.Labels)), nil
}

// client returns the account's client, made or remade as its spec needs,
// with a key read from the Secret at most KeyTTL ago. The Secret is read
// outside the registry's lock: one account's read never stalls another's
// resolution (two resolutions may both read a stale key; either result is
// the Secret's).
func (a *Accounts) client(ctx context.Context, key string, spec v1alpha1.AccountSpec, secret types.NamespacedName) (*onomondo.Client, error) {
	c, stale, err := a.entry(key, spec, secret)
	if err != nil || !stale {
		return c.api, err
	}
	k, err := a.ReadKey(ctx, secret, spec.APIKeySecretRef.Key)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if k != c.key {
		c.key = k
		c.api.SetAPIKey(k)
	}
	c.readAt = time.Now()
	return c.api, nil
}

// entry is the account's registry entry, made or remade as its spec needs,
// and whether its key is due to be read.
func (a *Accounts) entry(key string, spec v1alpha1.AccountSpec, secret types.NamespacedName) (*accountClient, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.clients == nil {
		a.clients = map[string]*accountClient{}
	}
	c := a.clients[key]
	if c == nil || c.spec != spec || c.secret != secret {
		api, err := onomondo.New(onomondo.Config{BaseURL: spec.APIURL, CAPEM: []byte(spec.CABundle), Timeout: a.Timeout,
			Rate: float64(max(spec.Rate, 1)), Burst: int(max(spec.Burst, 1)), Metrics: a.Metrics, Account: key, MaxRetryAfter: a.MaxRetryAfter,
			Current: spec.Edition == v1alpha1.EditionCurrent, Bearer: spec.AuthScheme == "Bearer"})
		if err != nil {
			return &accountClient{}, false, &Error{Reason: ReasonAccountInvalid, Terminal: true, Msg: fmt.Sprintf("account %s: %v", key, err)}
		}
		c = &accountClient{api: api, spec: spec, secret: secret}
		a.clients[key] = c
	}
	return c, time.Since(c.readAt) >= a.KeyTTL || c.key == "", nil
}

func (a *Accounts) ReadKey(ctx context.Context, ref types.NamespacedName, key string) (string, error) {
	return ReadAPIKey(ctx, a.Reader, ref, key)
}

// DefaultKeyName is the key of an API key Secret when the reference names none.
const DefaultKeyName = "apiKey"

// ReadAPIKey reads an API key from a Secret, the one way every reader does
// (the default account, Accounts, kubectl sim): key DefaultKeyName unless
// named; a Secret the reader may not read, a missing Secret or an empty key
// is an Error with its reason.
func ReadAPIKey(ctx context.Context, reader client.Reader, ref types.NamespacedName, key string) (string, error) {
	key = cmp.Or(key, DefaultKeyName)
	var s corev1.Secret
	err := reader.Get(ctx, ref, &s)
	switch {
	case apierrors.IsForbidden(err):
		return "", &Error{Reason: ReasonSecretForbidden,
			Msg: fmt.Sprintf("the operator may not read Secret %s: grant it get on that Secret with a Role and RoleBinding (resourceNames; see docs/operations.md, security model)", ref)}
	case apierrors.IsNotFound(err):
		return "", &Error{Reason: ReasonSecretNotFound, Msg: fmt.Sprintf("Secret %s does not exist", ref)}
	case err != nil:
		return "", err
	case len(s.Data[key]) == 0:
		return "", &Error{Reason: ReasonSecretNotFound, Msg: fmt.Sprintf("Secret %s has no key %s", ref, key)}
	}
	return string(s.Data[key]), nil
}

// Rate is an account's budget in calls per second, once its client is made
// (0 before: the account's resources have not been reconciled yet).
func (a *Accounts) Rate(key string) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.clients[key]; c != nil {
		return float64(max(c.spec.Rate, 1))
	}
	return 0
}

// Current reports whether the account speaks the current API, once its
// client is made ("" is the flag-configured default account).
func (a *Accounts) Current(key string) bool {
	if key == "" {
		return a.Default != nil && a.Default.Current()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.clients[key]
	return c != nil && c.spec.Edition == v1alpha1.EditionCurrent
}

// Existing is the account's client if one was made.
func (a *Accounts) Existing(key string) *onomondo.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c := a.clients[key]; c != nil {
		return c.api
	}
	return nil
}

// Forget drops an account's client: it was deleted.
func (a *Accounts) Forget(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.clients, key)
}

// ForeignAccount: the reference names another namespace's Account, which
// the resource may never use (so it claims nothing).
func ForeignAccount(namespace string, ref *v1alpha1.AccountReference) bool {
	return ref != nil && ref.Kind != "ClusterAccount" && ref.Namespace != "" && ref.Namespace != namespace
}
