package app

import (
	"net/http"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// memoMapper remembers the REST mappings found for a kind at a version.
// Every List from the cache asks whether its kind is namespaced, and the
// dynamic mapper answers by walking its priority lists, in every
// reconcile's duplicate check (its cost at a restart: docs/performance.md,
// "Restart at 50,000"). A mapping not found is asked again each time: a
// CRD installed later is still found.
type memoMapper struct {
	meta.RESTMapper
	mappings sync.Map // mappingKey → *meta.RESTMapping
}

type mappingKey struct {
	gk      schema.GroupKind
	version string
}

// newMemoMapper is the manager's mapper: controller-runtime's dynamic one,
// remembered.
func newMemoMapper(c *rest.Config, hc *http.Client) (meta.RESTMapper, error) {
	m, err := apiutil.NewDynamicRESTMapper(c, hc)
	if err != nil {
		return nil, err
	}
	return &memoMapper{RESTMapper: m}, nil
}

// RESTMapping is the mapping of a kind at one version (or at the preferred
// one), remembered once found.
func (m *memoMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	if len(versions) > 1 {
		return m.RESTMapper.RESTMapping(gk, versions...)
	}
	key := mappingKey{gk: gk}
	if len(versions) == 1 {
		key.version = versions[0]
	}
	if v, ok := m.mappings.Load(key); ok {
		return v.(*meta.RESTMapping), nil
	}
	mapping, err := m.RESTMapper.RESTMapping(gk, versions...)
	if err == nil {
		m.mappings.Store(key, mapping)
	}
	return mapping, err
}
