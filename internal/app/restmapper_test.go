package app

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// countingMapper knows one kind and counts what it is asked.
type countingMapper struct {
	meta.RESTMapper
	asked int
}

func (c *countingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	c.asked++
	if gk.Kind != "SIM" {
		return nil, &meta.NoKindMatchError{GroupKind: gk}
	}
	return &meta.RESTMapping{Scope: meta.RESTScopeNamespace}, nil
}

func TestAFoundMappingIsAskedOnceAndAMissingOneEachTime(t *testing.T) {
	inner := &countingMapper{}
	m := &memoMapper{RESTMapper: inner}
	sim := schema.GroupKind{Group: "onomondo.sim-operator.dev", Kind: "SIM"}
	for range 3 {
		if mapping, err := m.RESTMapping(sim, "v1alpha1"); err != nil || mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			t.Fatalf("SIM: %v %v", mapping, err)
		}
	}
	if inner.asked != 1 {
		t.Errorf("the SIM's mapping was asked %d times, want once", inner.asked)
	}
	_, _ = m.RESTMapping(sim, "v1beta1")
	if inner.asked != 2 {
		t.Errorf("another version is another mapping: asked %d times, want 2", inner.asked)
	}
	missing := schema.GroupKind{Group: "example.com", Kind: "NotYet"}
	for range 2 {
		if _, err := m.RESTMapping(missing, "v1"); !meta.IsNoMatchError(err) {
			t.Fatalf("a kind not installed: %v", err)
		}
	}
	if inner.asked != 4 {
		t.Errorf("a kind not found must be asked again (a CRD installed later): asked %d times, want 4", inner.asked)
	}
}
