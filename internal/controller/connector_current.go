package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// A Connector on a Current account: POST /connectors with name = spec.id and
// spec.config, PATCH /connectors/{name}, DELETE. Secret options (the API
// never returns them, only meta.<option>.is_set) come from spec.secretRef's
// Secret and are merged into options when sent, never from the manifest;
// drift is judged on what the API returns, and a change of the Secret's data
// (its hash, in status) is sent once.

// NamedConnectorAPI is what a Connector of a Current account needs.
type NamedConnectorAPI interface {
	Current() bool
	GetNamedConnector(ctx context.Context, name string) (json.RawMessage, error)
	CreateNamedConnector(ctx context.Context, body json.RawMessage) error
	UpdateNamedConnector(ctx context.Context, name string, body json.RawMessage) error
	DeleteNamedConnector(ctx context.Context, name string) error
}

// connectorSecrets is the secret options each Connector is to send, read
// once per reconcile from its Secret (by UID).
type connectorSecrets struct {
	// reader reads Secrets from the apiserver, one get of the named object.
	reader client.Reader
	// wanted: UID → secretOptions.
	wanted sync.Map
}

// secretOptions are a Secret's data as options, and their hash.
type secretOptions struct {
	options map[string]string
	hash    string
}

// named is the resource's client when its account speaks the current API.
func (e connectorExternal) named() (NamedConnectorAPI, bool) {
	api, ok := e.api.(NamedConnectorAPI)
	return api, ok && api.Current()
}

// editionError reads, on a Current account, the secret options to send
// (preflight for this reconcile); a secretRef on a Legacy account is
// NotInEdition.
func (e connectorExternal) editionError(ctx context.Context, c *v1alpha1.Connector) error {
	_, current := e.named()
	switch {
	case c.Spec.SecretRef == nil:
		return nil
	case !current:
		return &specError{reason: ReasonNotInEdition, msg: "spec.secretRef belongs to the Current edition; this Connector's account speaks the Legacy API: no call is made"}
	case e.secrets == nil || e.secrets.reader == nil:
		return &accountError{Reason: ReasonSecretForbidden, Msg: "the operator reads no Secrets here"}
	}
	var s corev1.Secret
	err := e.secrets.reader.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.SecretRef.Name}, &s)
	switch {
	case apierrors.IsNotFound(err):
		return &accountError{Reason: ReasonSecretNotFound, Msg: fmt.Sprintf("Secret %s/%s does not exist", c.Namespace, c.Spec.SecretRef.Name)}
	case apierrors.IsForbidden(err):
		return &accountError{Reason: ReasonSecretForbidden, Msg: fmt.Sprintf(
			"the operator may not read Secret %s/%s: grant get on it (docs/operations.md)", c.Namespace, c.Spec.SecretRef.Name)}
	case err != nil:
		return err
	}
	opts := secretOptions{options: map[string]string{}}
	sum := sha256.New()
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range s.Data {
			if !yield(k) {
				return
			}
		}
	}) {
		opts.options[k] = string(s.Data[k])
		fmt.Fprintf(sum, "%s=%x;", k, sha256.Sum256(s.Data[k]))
	}
	opts.hash = hex.EncodeToString(sum.Sum(nil))[:16]
	e.secrets.wanted.Store(c.UID, opts)
	return nil
}

// secretsSent: the Secret's data last sent is the data to send now (or the
// Connector has none, or it is not known this reconcile).
func (e connectorExternal) secretsSent(c *v1alpha1.Connector) bool {
	if c.Spec.SecretRef == nil || e.secrets == nil {
		return true
	}
	v, ok := e.secrets.wanted.Load(c.UID)
	return !ok || v.(secretOptions).hash == c.Status.SecretHash
}

// namedBody is what a write sends: spec.config, named spec.id, with the
// secret options merged into options.
func (e connectorExternal) namedBody(c *v1alpha1.Connector) (json.RawMessage, string, error) {
	var body map[string]any
	if err := json.Unmarshal(c.Spec.Config.Raw, &body); err != nil {
		return nil, "", &specError{reason: "ConfigInvalid", msg: "spec.config is not a JSON object"}
	}
	body["name"] = c.Spec.ID
	hash := ""
	if e.secrets != nil {
		if v, ok := e.secrets.wanted.Load(c.UID); ok {
			opts, _ := body["options"].(map[string]any)
			if opts == nil {
				opts = map[string]any{}
			}
			for k, val := range v.(secretOptions).options {
				opts[k] = val
			}
			body["options"], hash = opts, v.(secretOptions).hash
		}
	}
	raw, err := json.Marshal(body)
	return raw, hash, err
}

// writeNamed creates or changes the connector and records what was sent.
func (e connectorExternal) writeNamed(ctx context.Context, api NamedConnectorAPI, c *v1alpha1.Connector, create bool) error {
	body, hash, err := e.namedBody(c)
	if err != nil {
		return err
	}
	if create {
		err = api.CreateNamedConnector(ctx, body)
	} else {
		err = api.UpdateNamedConnector(ctx, c.Spec.ID, body)
	}
	if err == nil {
		c.Status.SecretHash = hash
	}
	return e.write(c, err)
}
