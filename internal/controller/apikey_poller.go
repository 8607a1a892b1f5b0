package controller

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sim-operator/sim-operator/internal/accounts"
)

// KeySetter takes a new API key.
type KeySetter interface{ SetAPIKey(string) }

// DefaultKeyPollInterval is how often the key Secret is read.
const DefaultKeyPollInterval = 5 * time.Second

// APIKeyReader hands the API key to the client whenever its Secret changes.
// It reads the one named Secret with a GET every Interval, never a list or
// a watch: RBAC needs only `get` on that object, and a missing or forbidden
// Secret never stops the manager (an informer that cannot sync would): the
// resources wait with CredentialsMissing and proceed within one interval of
// the key appearing.
type APIKeyReader struct {
	// Reader reads without a cache (the manager's APIReader).
	Reader   client.Reader
	Secret   types.NamespacedName
	API      KeySetter
	Interval time.Duration
	// OnChange runs after a new key is set: the controllers retry at once
	// the resources the old key (or its absence) failed for.
	OnChange []func(context.Context)

	current string
}

// The Secret is read in the operator's own namespace only: a Role, not a ClusterRole.
// +kubebuilder:rbac:groups="",namespace=sim-operator-system,resources=secrets,verbs=get

// Start reads the Secret now and every Interval until ctx ends.
func (r *APIKeyReader) Start(ctx context.Context) error {
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultKeyPollInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r.Sync(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// NeedLeaderElection: every replica needs the key, the standby included.
func (r *APIKeyReader) NeedLeaderElection() bool { return false }

// Sync reads the Secret once and hands a new, non-empty apiKey to the
// client; a missing Secret or key keeps the key it has (a rotation mistake
// does not take the fleet offline). It reports whether the key changed.
func (r *APIKeyReader) Sync(ctx context.Context) bool {
	log := logf.FromContext(ctx).WithValues("secret", r.Secret.String())
	key, err := accounts.ReadAPIKey(ctx, r.Reader, r.Secret, "")
	if err != nil {
		if r.current == "" {
			log.V(1).Info("cannot read the API key Secret yet", "error", err.Error())
		}
		return false
	}
	if key == r.current {
		return false
	}
	r.current = key
	r.API.SetAPIKey(key)
	log.Info("API key loaded from Secret")
	for _, f := range r.OnChange {
		f(ctx)
	}
	return true
}
