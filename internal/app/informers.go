package app

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/compact"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/watchjson"
)

// newInformerFunc is the cache's informer constructor (cache.Options.NewInformer).
type newInformerFunc = func(toolscache.ListerWatcher, runtime.Object, time.Duration, toolscache.Indexers) toolscache.SharedIndexInformer

// ownInformers builds the cache's informers for the operator's own kinds
// on a client that decodes their watch streams with internal/watchjson:
// a starting manager decodes its whole fleet on one goroutine before any
// worker starts, and every later watch event takes the same path
// (docs/performance.md). Each lists and watches exactly what
// controller-runtime's informer would (its namespace, the shard's label
// selector): the ListWatch controller-runtime hands over is asked once for
// its request, which httpClient (the cache's, wrapped by probing) answers
// with the request's URL without sending it. Every other kind keeps
// controller-runtime's ListWatch. The objects of a starting informer's
// initial list are handed to arrivals as they come (controller.Arrivals).
// The own kinds' informers keep their objects in internal/compact's form,
// about a seventh of a decoded SIM, and are recorded in informers for the
// controllers to read index keys without decoding objects.
func ownInformers(cfg *rest.Config, httpClient *http.Client, arrivals *controller.Arrivals, informers *controller.IndexedInformers) (newInformerFunc, error) {
	client, err := ownClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	params := runtime.NewParameterCodec(Scheme)
	return func(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) toolscache.SharedIndexInformer {
		kind, own := ownKind(obj)
		if !own {
			return toolscache.NewSharedIndexInformer(lw, obj, resync, indexers)
		}
		if asked, ok := probe(lw); ok {
			lw = ownListWatch(client, params, kind, asked, arrivals.Arrived(kind))
		}
		inf, err := compact.NewSharedIndexInformer(lw, obj, resync, indexers)
		if err != nil { // a field the encoding cannot carry: decoded objects, as controller-runtime keeps them
			ctrl.Log.WithName("setup").Info("keeping this kind's cache in Go structs, not compact", "kind", kind, "reason", err.Error())
			inf = toolscache.NewSharedIndexInformer(lw, obj, resync, indexers)
		}
		informers.Record(obj, inf)
		return inf
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

// request is what an informer lists and watches: its resource, its
// namespace ("" for all) and its selectors.
type request struct {
	resource, namespace string
	labels, fields      string
}

// probe asks lw for the list it would make and returns its request.
func probe(lw toolscache.ListerWatcher) (request, bool) {
	u := &url.URL{}
	ctx := context.WithValue(context.Background(), probeKey{}, u)
	if _, err := toolscache.ToListerWatcherWithContext(lw).ListWithContext(ctx, metav1.ListOptions{}); !errors.Is(err, errProbed) {
		return request{}, false
	}
	// [PREFIX]/apis/GROUP/VERSION[/namespaces/NAMESPACE]/RESOURCE
	_, rest, ok := strings.Cut(u.Path, "/apis/"+v1alpha1.GroupVersion.String()+"/")
	if !ok {
		return request{}, false
	}
	path := strings.Split(rest, "/")
	r := request{labels: u.Query().Get("labelSelector"), fields: u.Query().Get("fieldSelector")}
	switch {
	case len(path) == 1 && path[0] != "":
		r.resource = path[0]
	case len(path) == 3 && path[0] == "namespaces":
		r.namespace, r.resource = path[1], path[2]
	default:
		return request{}, false
	}
	return r, true
}

// probeKey marks a request's context for probing: the request is not
// sent, and its URL is copied into the context's *url.URL.
type probeKey struct{}

var errProbed = errors.New("probed, not sent")

// probing is the cache's HTTP transport: it sends every request but a probe.
type probing struct{ next http.RoundTripper }

func (p probing) RoundTrip(r *http.Request) (*http.Response, error) {
	if u, ok := r.Context().Value(probeKey{}).(*url.URL); ok {
		*u = *r.URL
		return nil, errProbed
	}
	return p.next.RoundTrip(r)
}

// ownListWatch lists and watches what r names, as controller-runtime's
// informers do (bookmarks on), on client; a streaming list's objects are
// handed to arrived (if not nil) as they come.
func ownListWatch(client rest.Interface, params runtime.ParameterCodec, kind string, r request, arrived func(context.Context, runtime.Object)) *toolscache.ListWatch {
	get := func(opts *metav1.ListOptions) *rest.Request {
		if r.labels != "" {
			opts.LabelSelector = r.labels
		}
		if r.fields != "" {
			opts.FieldSelector = r.fields
		}
		return client.Get().Namespace(r.namespace).Resource(r.resource).VersionedParams(opts, params)
	}
	return &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list, err := Scheme.New(v1alpha1.GroupVersion.WithKind(kind + "List"))
			if err != nil {
				return nil, err
			}
			if err := get(&opts).Do(ctx).Into(list); err != nil {
				return nil, err
			}
			return list, nil
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.Watch, opts.AllowWatchBookmarks = true, true
			w, err := get(&opts).Watch(ctx)
			if err != nil || arrived == nil || !ptr.Deref(opts.SendInitialEvents, false) {
				return w, err
			}
			return initialEvents(ctx, w, arrived), nil
		},
	}
}

// initialEvents passes w's events on, handing each object of its initial
// events (those before the bookmark that ends them) to arrived first.
func initialEvents(ctx context.Context, w watch.Interface, arrived func(context.Context, runtime.Object)) watch.Interface {
	initial := true
	return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
		switch {
		case !initial:
		case e.Type == watch.Added:
			arrived(ctx, e.Object)
		case e.Type == watch.Bookmark:
			if m, err := meta.Accessor(e.Object); err == nil && m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true" {
				initial = false
			}
		}
		return e, true
	})
}
