package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/accounts"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// MaxConnectorConfig is the largest connector body the operator sends.
const MaxConnectorConfig = 64 << 10

// ConnectorAPI is what the Connector controller needs from the Onomondo client.
type ConnectorAPI interface {
	GetConnector(ctx context.Context, id string) (json.RawMessage, error)
	CreateConnector(ctx context.Context, id string, body json.RawMessage) error
	UpdateConnector(ctx context.Context, id string, body json.RawMessage) error
	DeleteConnector(ctx context.Context, id string) error
}

// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=connectors,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=connectors/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=connectors/finalizers,verbs=update

// NewConnectorController makes connectors in the Onomondo API match
// Connector resources, with the same machinery as SIMs (managed.go).
func NewConnectorController(c client.Client, api ConnectorAPI, rec recorder.EventRecorder, o ManagedOptions) *ManagedController[*v1alpha1.Connector] {
	return &ManagedController[*v1alpha1.Connector]{r: newConnectorReconciler(c, api, rec, o), name: "connector", opts: o}
}

// UseSecretReader lets Connectors of Current accounts read their secretRef
// (a get of that one Secret from the apiserver, never a cache of Secrets).
func UseSecretReader(m *ManagedController[*v1alpha1.Connector], r client.Reader) {
	ext := m.r.ext.(connectorExternal)
	ext.secrets.reader = r
}

func newConnectorReconciler(c client.Client, api ConnectorAPI, rec recorder.EventRecorder, o ManagedOptions) *managedReconciler[*v1alpha1.Connector] {
	return newManagedReconciler[*v1alpha1.Connector](c, connectorExternal{api: api, secrets: &connectorSecrets{}},
		func() *v1alpha1.Connector { return &v1alpha1.Connector{} }, func() client.ObjectList { return &v1alpha1.ConnectorList{} }, rec, o)
}

// connectorExternal is the Connector's half of the managed reconciler, for
// both editions (connector_current.go).
type connectorExternal struct {
	api     ConnectorAPI
	secrets *connectorSecrets
}

func (connectorExternal) kind() string { return "Connector" }
func (e connectorExternal) connect(api *onomondo.Client) external[*v1alpha1.Connector] {
	e.api = api
	return e
}

// identity: a connector's ID is its whole identity and immutable; its
// Claim is on it.
func (connectorExternal) identity(c *v1alpha1.Connector) identity {
	var keys []string
	if !accounts.ForeignAccount(c.Namespace, c.Spec.AccountRef) {
		keys = []string{v1alpha1.AccountKey(c.Namespace, c.Spec.AccountRef) + "|connector:" + c.Spec.ID}
	}
	return identity{ID: c.Spec.ID, Claim: connectorClaimID(c), Keys: keys, Log: []any{"connectorID", c.Spec.ID}}
}

// connectorClaimID is what the connector's Claim is on: its ID.
func connectorClaimID(c *v1alpha1.Connector) string { return "id:" + c.Spec.ID }

func (connectorExternal) status(c *v1alpha1.Connector) any { return c.Status }
func (connectorExternal) exists(err error) bool {
	return onomondo.IsCode(err, onomondo.CodeConnectorConflict)
}
func (e connectorExternal) remove(ctx context.Context, c *v1alpha1.Connector) error {
	if api, current := e.named(); current {
		return api.DeleteNamedConnector(ctx, c.Spec.ID)
	}
	return e.api.DeleteConnector(ctx, c.Spec.ID)
}

// recorded compares only the keys the spec writes (keys the API adds are
// not drift), and the Secret's data last sent with its data now. A
// connector is bound once observed: a spec cannot name another.
func (e connectorExternal) recorded(c *v1alpha1.Connector) Observation {
	if c.Status.AtProvider == nil {
		return Observation{Description: "nothing yet"}
	}
	got := string(c.Status.AtProvider.Raw)
	var diff []string
	if !connectorConfigMatches(c.Spec.Config.Raw, c.Status.AtProvider.Raw) {
		diff = append(diff, "config: "+clipText(got, 80)+" → "+clipText(string(c.Spec.Config.Raw), 80))
	}
	if !e.secretsSent(c) {
		diff = append(diff, "secretRef: the Secret's data changed since it was last sent")
	}
	return Observation{Exists: true, Bound: true, Diff: diff, Description: clipText(got, 200)}
}

// clipText shortens a body for a message: its first n bytes.
func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (e connectorExternal) create(ctx context.Context, c *v1alpha1.Connector) (Observation, error) {
	return result(e, c, e.send(ctx, c, true))
}

func (e connectorExternal) update(ctx context.Context, c *v1alpha1.Connector) (Observation, error) {
	return result(e, c, e.send(ctx, c, false))
}

// send writes the connector through the account's edition: the seed's
// POST or PUT of spec.config, or the current API's named body.
func (e connectorExternal) send(ctx context.Context, c *v1alpha1.Connector, create bool) error {
	if err := checkConfig(c); err != nil {
		return err
	}
	switch api, current := e.named(); {
	case current:
		return e.writeNamed(ctx, api, c, create)
	case create:
		return e.write(c, e.api.CreateConnector(ctx, c.Spec.ID, c.Spec.Config.Raw))
	}
	return e.write(c, e.api.UpdateConnector(ctx, c.Spec.ID, c.Spec.Config.Raw))
}

// write records an accepted body as what the API now holds.
func (connectorExternal) write(c *v1alpha1.Connector, err error) error {
	if err == nil {
		c.Status.AtProvider = &runtime.RawExtension{Raw: bytes.Clone(c.Spec.Config.Raw)}
	}
	return err
}

func (e connectorExternal) observe(ctx context.Context, c *v1alpha1.Connector) (Observation, error) {
	get := e.api.GetConnector
	if api, current := e.named(); current {
		get = api.GetNamedConnector
	}
	body, err := get(ctx, c.Spec.ID)
	if err == nil {
		c.Status.AtProvider = &runtime.RawExtension{Raw: body}
	}
	return result(e, c, err)
}

// checkConfig refuses, before any call, a body the API would refuse for its size.
func checkConfig(c *v1alpha1.Connector) error {
	if n := len(c.Spec.Config.Raw); n > MaxConnectorConfig {
		return &specError{reason: ReasonConfigTooLarge, msg: fmt.Sprintf("spec.config is %d bytes; the API takes at most %d", n, MaxConnectorConfig)}
	}
	return nil
}

func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// subsetEqual reports whether got has everything want has: objects
// key by key (extra keys in got are fine, at any depth), arrays element by
// element, numbers by value (1 equals 1.0).
func subsetEqual(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			gv, present := g[k]
			if !present || !subsetEqual(wv, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !subsetEqual(w[i], g[i]) {
				return false
			}
		}
		return true
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			return false
		}
		a, okA := new(big.Rat).SetString(w.String())
		b, okB := new(big.Rat).SetString(g.String())
		return okA && okB && a.Cmp(b) == 0
	default:
		return reflect.DeepEqual(want, got)
	}
}
