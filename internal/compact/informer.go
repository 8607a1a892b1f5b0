package compact

import (
	"reflect"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
)

// Object is an informer's object in its compact form: its encoding, its
// key first. It is immutable.
type Object struct {
	data  string
	codec *Codec
}

// GetObjectKind has no kind: an Object is never sent anywhere.
func (o *Object) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject is o itself: an Object is never changed.
func (o *Object) DeepCopyObject() runtime.Object { return o }

// GetObjectMeta names o for the informer's key function.
func (o *Object) GetObjectMeta() metav1.Object {
	namespace, name, err := o.codec.Key(o.data)
	if err != nil {
		panic(err) // see recent.decode
	}
	return &metav1.ObjectMeta{Namespace: namespace, Name: name}
}

// NewSharedIndexInformer is client-go's informer (the same arguments)
// keeping the objects of obj's type in compact form, after any transform
// it is given. Everything read from it is decoded first: its store and
// indexer, its index functions and its event handlers see the objects
// they would see without. It fails if obj's type has a field the encoding
// cannot carry.
func NewSharedIndexInformer(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration, indexers toolscache.Indexers) (toolscache.SharedIndexInformer, error) {
	codec, err := codecOf(obj)
	if err != nil {
		return nil, err
	}
	inf := toolscache.NewSharedIndexInformer(lw, obj, resync, decodingIndexers(indexers, decodes))
	w := &informer{SharedIndexInformer: inf, codec: codec}
	return w, inf.SetTransform(w.compactor(nil))
}

// codecs are the informers' codecs by type, one per type for the process:
// a cache of several namespaces has an informer per kind and namespace,
// and each codec's dictionaries hold up to 256 strings per field.
var codecs sync.Map // reflect.Type -> *Codec

// codecOf is the codec of obj's type, built at its first use.
func codecOf(obj runtime.Object) (*Codec, error) {
	t := reflect.TypeOf(obj)
	if c, ok := codecs.Load(t); ok {
		return c.(*Codec), nil
	}
	c, err := NewCodec(obj)
	if err != nil {
		return nil, err
	}
	actual, _ := codecs.LoadOrStore(t, c)
	return actual.(*Codec), nil
}

// informer is a SharedIndexInformer whose store holds compact Objects.
type informer struct {
	toolscache.SharedIndexInformer
	codec *Codec
}

// decodes are the process's recent decodes, for the readers that come
// right after an event: the index functions (old and new object), the
// event handlers (a SIM has eight) and the reconcile that follows. One set
// for all informers bounds what they keep however many there are (a cache
// of several namespaces has an informer per kind and namespace): 1,024
// decoded SIMs are about 2 MB. An Object whose decode is gone is decoded
// again.
var decodes = newRecent(1024)

var buffers = sync.Pool{New: func() any { return new([]byte) }}

// compactor is the transform that applies then encodes what then gives.
func (w *informer) compactor(then toolscache.TransformFunc) toolscache.TransformFunc {
	return func(obj any) (any, error) {
		if _, ok := obj.(*Object); ok {
			return obj, nil // already compact: transforms must be idempotent
		}
		if then != nil {
			var err error
			if obj, err = then(obj); err != nil {
				return obj, err
			}
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return obj, nil
		}
		buf := buffers.Get().(*[]byte)
		defer buffers.Put(buf)
		b, err := w.codec.Encode((*buf)[:0], m.GetNamespace(), m.GetName(), obj)
		*buf = b
		if err != nil {
			return obj, nil // kept as it is: readers get it as it is
		}
		return &Object{data: string(b), codec: w.codec}, nil
	}
}

// SetTransform applies handler before the encoding.
func (w *informer) SetTransform(handler toolscache.TransformFunc) error {
	return w.SharedIndexInformer.SetTransform(w.compactor(handler))
}

func (w *informer) AddEventHandler(h toolscache.ResourceEventHandler) (toolscache.ResourceEventHandlerRegistration, error) {
	return w.SharedIndexInformer.AddEventHandler(handler{h, decodes})
}

func (w *informer) AddEventHandlerWithResyncPeriod(h toolscache.ResourceEventHandler, resync time.Duration) (toolscache.ResourceEventHandlerRegistration, error) {
	return w.SharedIndexInformer.AddEventHandlerWithResyncPeriod(handler{h, decodes}, resync)
}

func (w *informer) AddEventHandlerWithOptions(h toolscache.ResourceEventHandler, o toolscache.HandlerOptions) (toolscache.ResourceEventHandlerRegistration, error) {
	return w.SharedIndexInformer.AddEventHandlerWithOptions(handler{h, decodes}, o)
}

func (w *informer) AddIndexers(indexers toolscache.Indexers) error {
	return w.SharedIndexInformer.AddIndexers(decodingIndexers(indexers, decodes))
}

func (w *informer) GetStore() toolscache.Store { return w.GetIndexer() }

func (w *informer) GetIndexer() toolscache.Indexer {
	return view{Indexer: w.SharedIndexInformer.GetIndexer(), recent: decodes}
}

// decodingIndexers are indexers whose functions are given decoded objects.
func decodingIndexers(indexers toolscache.Indexers, r *recent) toolscache.Indexers {
	out := make(toolscache.Indexers, len(indexers))
	for name, f := range indexers {
		out[name] = func(obj any) ([]string, error) { return f(r.full(obj)) }
	}
	return out
}

// handler gives its next handler decoded objects.
type handler struct {
	next   toolscache.ResourceEventHandler
	recent *recent
}

func (h handler) OnAdd(obj any, initial bool) { h.next.OnAdd(h.recent.full(obj), initial) }
func (h handler) OnUpdate(old, obj any)       { h.next.OnUpdate(h.recent.full(old), h.recent.full(obj)) }
func (h handler) OnDelete(obj any)            { h.next.OnDelete(h.recent.full(obj)) }

// view is the informer's indexer as its readers see it: decoded.
type view struct {
	toolscache.Indexer
	recent *recent
}

func (v view) Get(obj any) (any, bool, error) {
	x, ok, err := v.Indexer.Get(obj)
	return v.recent.full(x), ok, err
}

func (v view) GetByKey(key string) (any, bool, error) {
	x, ok, err := v.Indexer.GetByKey(key)
	return v.recent.full(x), ok, err
}

func (v view) List() []any { return v.recent.all(v.Indexer.List()) }

func (v view) ByIndex(name, value string) ([]any, error) {
	objs, err := v.Indexer.ByIndex(name, value)
	return v.recent.all(objs), err
}

func (v view) Index(name string, obj any) ([]any, error) {
	objs, err := v.Indexer.Index(name, obj)
	return v.recent.all(objs), err
}

func (v view) AddIndexers(indexers toolscache.Indexers) error {
	return v.Indexer.AddIndexers(decodingIndexers(indexers, v.recent))
}

// recent decodes Objects, keeping the last few decodes: one event's
// object is read by several index functions and handlers in a row.
type recent struct {
	mu      sync.Mutex
	decoded map[*Object]any
	order   []*Object // a ring: the next to forget is at next
	next    int
}

func newRecent(n int) *recent {
	return &recent{decoded: make(map[*Object]any, n), order: make([]*Object, n)}
}

// full is obj decoded if it is an Object (also inside a deletion's
// tombstone), else obj.
func (r *recent) full(obj any) any {
	switch o := obj.(type) {
	case *Object:
		return r.decode(o)
	case toolscache.DeletedFinalStateUnknown:
		if c, ok := o.Obj.(*Object); ok {
			o.Obj = r.decode(c)
		}
		return o
	default:
		return obj
	}
}

func (r *recent) all(objs []any) []any {
	for i, o := range objs {
		objs[i] = r.full(o)
	}
	return objs
}

func (r *recent) decode(o *Object) any {
	r.mu.Lock()
	x, ok := r.decoded[o]
	r.mu.Unlock()
	if ok {
		return x
	}
	x, err := o.codec.Decode(o.data)
	if err != nil {
		// Only this package writes what it decodes: a failure is a
		// defect, not an input to handle.
		panic(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if y, ok := r.decoded[o]; ok {
		return y // decoded meanwhile by another reader: share that one
	}
	if old := r.order[r.next]; old != nil {
		delete(r.decoded, old)
	}
	r.order[r.next], r.decoded[o] = o, x
	r.next = (r.next + 1) % len(r.order)
	return x
}
