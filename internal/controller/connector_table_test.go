package controller

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// The Connector's decision table, on a recording fake of the seed's API:
// the same engine as the SIM's, with the Connector's identity (its ID) and
// comparison (the keys the spec writes).

type fakeConnectorAPI struct {
	bodies map[string]string
	calls  []string
}

func (f *fakeConnectorAPI) GetConnector(_ context.Context, id string) (json.RawMessage, error) {
	f.calls = append(f.calls, "GET "+id)
	if b, ok := f.bodies[id]; ok {
		return json.RawMessage(b), nil
	}
	return nil, &onomondo.APIError{StatusCode: 404, Code: onomondo.CodeConnectorNotFound}
}

func (f *fakeConnectorAPI) CreateConnector(_ context.Context, id string, body json.RawMessage) error {
	f.calls = append(f.calls, "POST "+id)
	if _, ok := f.bodies[id]; ok {
		return &onomondo.APIError{StatusCode: 409, Code: onomondo.CodeConnectorConflict}
	}
	f.bodies[id] = string(body)
	return nil
}

func (f *fakeConnectorAPI) UpdateConnector(_ context.Context, id string, body json.RawMessage) error {
	f.calls = append(f.calls, "PUT "+id)
	if _, ok := f.bodies[id]; !ok {
		return &onomondo.APIError{StatusCode: 404, Code: onomondo.CodeConnectorNotFound}
	}
	f.bodies[id] = string(body)
	return nil
}

func (f *fakeConnectorAPI) DeleteConnector(_ context.Context, id string) error {
	f.calls = append(f.calls, "DELETE "+id)
	delete(f.bodies, id)
	return nil
}

func connectorObj(config string, change func(*v1alpha1.Connector)) *v1alpha1.Connector {
	c := &v1alpha1.Connector{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hook", UID: types.UID("uid-hook"), Generation: 1,
		CreationTimestamp: created}, Spec: v1alpha1.ConnectorSpec{ID: "hook", Config: runtime.RawExtension{Raw: []byte(config)}}}
	c.Spec.DeletionPolicy, c.Spec.ManagementPolicy = v1alpha1.DeletionPolicyDelete, v1alpha1.ManagementPolicyManage
	if change != nil {
		change(c)
	}
	return c
}

func TestConnectorDecisionTable(t *testing.T) {
	const (
		spec  = `{"type":"webhook","url":"https://a.example"}`
		other = `{"type":"webhook","url":"https://b.example"}`
		added = `{"type":"webhook","url":"https://a.example","created_at":"2026-11-01"}` // keys the API adds are no drift
	)
	observed := func(body string) func(*v1alpha1.Connector) {
		return func(c *v1alpha1.Connector) {
			c.Finalizers = []string{Finalizer}
			c.Status.AtProvider = &runtime.RawExtension{Raw: []byte(body)}
			c.Status.ObservedGeneration = 1
			setCondition(c, v1alpha1.ConditionSynced, metav1.ConditionTrue, ReasonReconcileSuccess, "")
		}
	}
	deleting := func(c *v1alpha1.Connector) {
		now := metav1.NewTime(created.Add(time.Hour))
		c.DeletionTimestamp = &now
	}
	for _, tc := range []struct {
		name   string
		obj    *v1alpha1.Connector
		api    map[string]string
		seen   bool
		calls  []string
		synced string
		events []string
		gone   bool
	}{
		{name: "a new Connector is created with one POST", obj: connectorObj(spec, nil),
			calls: []string{"POST hook"}, synced: "True/ReconcileSuccess", events: []string{"Created"}},
		{name: "a Connector the API has is adopted on the POST's conflict: GET, no write when it matches",
			obj: connectorObj(spec, nil), api: map[string]string{"hook": added},
			calls: []string{"POST hook", "GET hook"}, synced: "True/ReconcileSuccess", events: []string{"Adopted"}},
		{name: "adopted and differing: one PUT", obj: connectorObj(spec, nil), api: map[string]string{"hook": other},
			calls: []string{"POST hook", "GET hook", "PUT hook"}, synced: "True/ReconcileSuccess", events: []string{"Adopted", "Updated"}},
		{name: "a spec change this process saw before: one PUT", obj: connectorObj(spec, observed(other)), api: map[string]string{"hook": other},
			seen: true, calls: []string{"PUT hook"}, synced: "True/ReconcileSuccess", events: []string{"Updated"}},
		{name: "a change found pending after a restart: GET first, PUT only if it still differs",
			obj: connectorObj(spec, observed(other)), api: map[string]string{"hook": added},
			calls: []string{"GET hook"}, synced: "True/ReconcileSuccess"},
		{name: "a config over the API's limit is refused before any call",
			obj:    connectorObj(`{"pad":"`+strings.Repeat("x", MaxConnectorConfig)+`"}`, nil),
			synced: "False/" + ReasonConfigTooLarge, events: []string{"SyncFailed"}},
		{name: "in sync and seen: nothing", obj: connectorObj(spec, observed(added)), api: map[string]string{"hook": added}, seen: true,
			synced: "True/ReconcileSuccess"},
		{name: "deletion deletes it in the API", obj: connectorObj(spec, func(c *v1alpha1.Connector) { observed(spec)(c); deleting(c) }),
			api: map[string]string{"hook": spec}, calls: []string{"DELETE hook"}, gone: true, events: []string{"Deleted"}},
		{name: "a secretRef on an account of the seed's API is NotInEdition, with no call", obj: connectorObj(spec, func(c *v1alpha1.Connector) {
			c.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "broker"}
		}), synced: "False/" + ReasonNotInEdition, events: []string{"SyncFailed"}},
		{name: "a long config that differs: one PUT, its event clipped", obj: connectorObj(`{"pad":"`+strings.Repeat("y", 300)+`"}`, observed(other)),
			api: map[string]string{"hook": other}, seen: true, calls: []string{"PUT hook"}, synced: "True/ReconcileSuccess", events: []string{"Updated"}},
		{name: "Orphan leaves it", obj: connectorObj(spec, func(c *v1alpha1.Connector) {
			observed(spec)(c)
			c.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
			deleting(c)
		}), api: map[string]string{"hook": spec}, gone: true, events: []string{"Orphaned"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeConnectorAPI{bodies: map[string]string{}}
			for k, v := range tc.api {
				api.bodies[k] = v
			}
			c := fakeClient(interceptor.Funcs{}, tc.obj)
			rec := &fakeRecorder{}
			r := newConnectorReconciler(c, api, rec, ManagedOptions{SyncPeriod: time.Hour, MinBackoff: time.Millisecond, MaxBackoff: time.Second})
			r.claims = &claimStore{client: c, reader: c}
			if tc.seen {
				r.schedule.Synced(client.ObjectKeyFromObject(tc.obj), accountOf(tc.obj))
			}
			var got v1alpha1.Connector
			gone := reconcileOnce(t, r, c, tc.obj, &got, tc.gone)
			if !slices.Equal(api.calls, tc.calls) {
				t.Errorf("calls %q, want %q", api.calls, tc.calls)
			}
			if !slices.Equal(rec.reasons, tc.events) {
				t.Errorf("events %q, want %q", rec.reasons, tc.events)
			}
			if s := conditionOf(got.Status.Conditions, v1alpha1.ConditionSynced); !gone && s != tc.synced {
				t.Errorf("Synced = %s, want %s", s, tc.synced)
			}
		})
	}
}

// reconcileOnce runs one reconcile of obj and reads it back into got. It
// fails the test on an error, or when the object is (not) gone as wanted,
// and reports whether it is gone.
func reconcileOnce(t *testing.T, r reconcile.Reconciler, c client.Client, obj, got client.Object, wantGone bool) bool {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(obj)}); err != nil {
		t.Fatal(err)
	}
	err := c.Get(context.Background(), client.ObjectKeyFromObject(obj), got)
	if gone := err != nil; gone != wantGone {
		t.Fatalf("gone = %t (%v), want %t", gone, err, wantGone)
	}
	return wantGone
}

// conditionOf is a condition's "Status/Reason", "" when absent.
func conditionOf(conds []metav1.Condition, typ string) string {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return string(c.Status) + "/" + c.Reason
	}
	return ""
}

// fakeNamedConnectorAPI is the current API's connectors, recording calls
// and the bodies sent.
type fakeNamedConnectorAPI struct {
	fakeConnectorAPI
	sent []map[string]any
}

func (f *fakeNamedConnectorAPI) Current() bool { return true }

func (f *fakeNamedConnectorAPI) GetNamedConnector(ctx context.Context, name string) (json.RawMessage, error) {
	return f.GetConnector(ctx, name)
}

func (f *fakeNamedConnectorAPI) CreateNamedConnector(_ context.Context, body json.RawMessage) error {
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	name, _ := m["name"].(string)
	f.calls, f.sent = append(f.calls, "POST /connectors "+name), append(f.sent, m)
	f.bodies[name] = string(body)
	return nil
}

func (f *fakeNamedConnectorAPI) UpdateNamedConnector(_ context.Context, name string, body json.RawMessage) error {
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	f.calls, f.sent = append(f.calls, "PATCH "+name), append(f.sent, m)
	f.bodies[name] = string(body)
	return nil
}

func (f *fakeNamedConnectorAPI) DeleteNamedConnector(ctx context.Context, name string) error {
	return f.DeleteConnector(ctx, name)
}

// A Connector on a Current account: secret options come from its Secret,
// merged into options when sent and never compared (the API does not
// return them); a change of the Secret's data is sent once.
func TestConnectorOnTheCurrentAPIDecisionTable(t *testing.T) {
	const spec = `{"type":"mqtt","options":{"host":"broker.example"}}`
	secret := func(password string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "broker"}, Data: map[string][]byte{"password": []byte(password)}}
	}
	withSecret := func(c *v1alpha1.Connector) { c.Spec.SecretRef = &v1alpha1.LocalSecretReference{Name: "broker"} }
	sentWith := func(hash string) func(*v1alpha1.Connector) {
		return func(c *v1alpha1.Connector) {
			withSecret(c)
			c.Finalizers = []string{Finalizer}
			c.Status.AtProvider = &runtime.RawExtension{Raw: []byte(spec)}
			c.Status.ObservedGeneration, c.Status.SecretHash = 1, hash
			setCondition(c, v1alpha1.ConditionSynced, metav1.ConditionTrue, ReasonReconcileSuccess, "")
		}
	}
	hashOf := func(password string) string {
		e := connectorExternal{api: &fakeNamedConnectorAPI{}, secrets: &connectorSecrets{reader: fakeClient(interceptor.Funcs{}, secret(password))}}
		obj := connectorObj(spec, withSecret)
		if err := e.editionError(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
		_, hash, _ := e.namedBody(obj)
		return hash
	}
	secretGet := func(err error) interceptor.Funcs {
		return interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, o ...client.GetOption) error {
			if _, ok := obj.(*corev1.Secret); ok {
				return err
			}
			return c.Get(ctx, key, obj, o...)
		}}
	}
	for _, tc := range []struct {
		name      string
		obj       *v1alpha1.Connector
		secrets   []client.Object
		noReader  bool
		intercept interceptor.Funcs
		api       map[string]string
		calls     []string
		synced    string
		option    string // the password option sent, if any
		host      string // the host option sent with it
		gone      bool
	}{
		{name: "a Secret the operator may not read: SecretForbidden, no call", obj: connectorObj(spec, withSecret),
			intercept: secretGet(apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "broker", errors.New("no"))),
			synced:    "False/" + ReasonSecretForbidden},
		{name: "an operator that reads no Secrets: SecretForbidden, no call", obj: connectorObj(spec, withSecret), noReader: true,
			synced: "False/" + ReasonSecretForbidden},
		{name: "a Secret that cannot be read for now: retried, no call", obj: connectorObj(spec, withSecret),
			intercept: secretGet(apierrors.NewServiceUnavailable("restarting")), synced: "False/" + ReasonReconcileError},
		{name: "a config that is not a JSON object: ConfigInvalid, no call", obj: connectorObj(`["mqtt"]`, withSecret),
			secrets: []client.Object{secret("s3cret")}, synced: "False/ConfigInvalid"},
		{name: "a config without options: the Secret's are the options", obj: connectorObj(`{"type":"mqtt"}`, withSecret),
			secrets: []client.Object{secret("s3cret")}, calls: []string{"POST /connectors hook"}, synced: "True/ReconcileSuccess", option: "s3cret"},
		{name: "deletion deletes it by name", obj: connectorObj(spec, func(c *v1alpha1.Connector) {
			sentWith("")(c)
			c.Spec.SecretRef = nil
			now := metav1.NewTime(created.Add(time.Hour))
			c.DeletionTimestamp = &now
		}), api: map[string]string{"hook": spec}, calls: []string{"DELETE hook"}, gone: true},
		{name: "created with the Secret's options merged into options", obj: connectorObj(spec, withSecret),
			secrets: []client.Object{secret("s3cret")}, calls: []string{"POST /connectors hook"}, synced: "True/ReconcileSuccess", option: "s3cret",
			host: "broker.example"},
		{name: "a Secret that does not exist: SecretNotFound, no call", obj: connectorObj(spec, withSecret),
			synced: "False/" + ReasonSecretNotFound},
		{name: "the Secret's data changed: sent once, though the API's answer matches", obj: connectorObj(spec, sentWith(hashOf("old"))),
			secrets: []client.Object{secret("new")}, api: map[string]string{"hook": spec},
			calls: []string{"GET hook", "PATCH hook"}, synced: "True/ReconcileSuccess", option: "new", host: "broker.example"},
		{name: "the Secret as last sent, after a restart: no call, its check resumes within the period", obj: connectorObj(spec, sentWith(hashOf("same"))),
			secrets: []client.Object{secret("same")}, api: map[string]string{"hook": spec}, synced: "True/ReconcileSuccess"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeNamedConnectorAPI{fakeConnectorAPI: fakeConnectorAPI{bodies: map[string]string{}}}
			for k, v := range tc.api {
				api.bodies[k] = v
			}
			c := fakeClient(tc.intercept, append([]client.Object{tc.obj}, tc.secrets...)...)
			r := newConnectorReconciler(c, api, &fakeRecorder{}, ManagedOptions{SyncPeriod: time.Hour, MinBackoff: time.Millisecond, MaxBackoff: time.Second})
			if !tc.noReader {
				r.ext.(connectorExternal).secrets.reader = c
			}
			r.claims = &claimStore{client: c, reader: c}
			var got v1alpha1.Connector
			if reconcileOnce(t, r, c, tc.obj, &got, tc.gone) {
				if !slices.Equal(api.calls, tc.calls) {
					t.Errorf("calls %q, want %q", api.calls, tc.calls)
				}
				return
			}
			if !slices.Equal(api.calls, tc.calls) {
				t.Errorf("calls %q, want %q", api.calls, tc.calls)
			}
			if s := conditionOf(got.Status.Conditions, v1alpha1.ConditionSynced); s != tc.synced {
				t.Errorf("Synced = %s, want %s", s, tc.synced)
			}
			if tc.option != "" {
				opts, _ := api.sent[len(api.sent)-1]["options"].(map[string]any)
				if opts["password"] != tc.option || (tc.host != "" && opts["host"] != tc.host) || (tc.host == "" && len(opts) != 1) {
					t.Errorf("options sent %v, want the spec's (host %q) and password %q", opts, tc.host, tc.option)
				}
			}
		})
	}
}
