package app

import (
	"context"
	"net/http"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/watchjson"
)

// newInformerFunc is the cache's informer constructor (cache.Options.NewInformer).
type newInformerFunc = func(toolscache.ListerWatcher, runtime.Object, time.Duration, toolscache.Indexers) toolscache.SharedIndexInformer

// ownInformers builds the cache's informers for the operator's own kinds
// on a client that decodes their watch streams with internal/watchjson:
// a starting manager decodes its whole fleet on one goroutine before any
// worker starts, and every later watch event takes the same path
// (docs/performance.md). They list and watch what controller-runtime's
// would: every namespace, the shard's objects of the kinds a shard splits
// (sharded, selected by shard). Every other kind, and every kind when the
// cache is per namespace, keeps controller-runtime's own ListWatch.
func ownInformers(cfg *rest.Config, httpClient *http.Client, shard labels.Selector, sharded []runtime.Object) (newInformerFunc, error) {
	client, err := ownClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	split := map[string]bool{}
	for _, obj := range sharded {
		if kinds, _, err := Scheme.ObjectKinds(obj); err == nil {
			split[kinds[0].Kind] = true
		}
	}
	params := runtime.NewParameterCodec(Scheme)
	return func(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
		if kind, ok := ownKind(obj); ok {
			var sel labels.Selector
			if split[kind] {
				sel = shard
			}
			lw = ownListWatch(client, params, kind, sel)
		}
		return toolscache.NewSharedIndexInformer(lw, obj, resync, indexers)
	}, nil
}

// ownClient is a REST client of the operator's API group whose JSON
// decoding is internal/watchjson's.
func ownClient(cfg *rest.Config, httpClient *http.Client) (rest.Interface, error) {
	c := rest.CopyConfig(cfg)
	gv := v1alpha1.GroupVersion
	c.GroupVersion, c.APIPath = &gv, "/apis"
	c.ContentType, c.NegotiatedSerializer = runtime.ContentTypeJSON, watchjson.NegotiatedSerializer(Scheme)
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return rest.RESTClientForConfigAndClient(c, httpClient)
}

// ownKind is the kind of a typed object of the operator's API group.
func ownKind(obj runtime.Object) (string, bool) {
	switch obj.(type) {
	case runtime.Unstructured, *metav1.PartialObjectMetadata:
		return "", false
	}
	kinds, _, err := Scheme.ObjectKinds(obj)
	if err != nil || kinds[0].GroupVersion() != v1alpha1.GroupVersion {
		return "", false
	}
	return kinds[0].Kind, true
}

// ownListWatch lists and watches a kind across namespaces, as
// controller-runtime's informers do (bookmarks on, sel applied), on client.
func ownListWatch(client rest.Interface, params runtime.ParameterCodec, kind string, sel labels.Selector) *toolscache.ListWatch {
	resource := strings.ToLower(kind) + "s" // the CRDs' plurals
	apply := func(opts *metav1.ListOptions) {
		if sel != nil {
			opts.LabelSelector = sel.String()
		}
	}
	return &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			apply(&opts)
			list, err := Scheme.New(v1alpha1.GroupVersion.WithKind(kind + "List"))
			if err != nil {
				return nil, err
			}
			if err := client.Get().Resource(resource).VersionedParams(&opts, params).Do(ctx).Into(list); err != nil {
				return nil, err
			}
			return list, nil
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.Watch, opts.AllowWatchBookmarks = true, true
			apply(&opts)
			return client.Get().Resource(resource).VersionedParams(&opts, params).Watch(ctx)
		},
	}
}

func objects(objs []client.Object) []runtime.Object {
	out := make([]runtime.Object, len(objs))
	for i, o := range objs {
		out[i] = o
	}
	return out
}
