package compact

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	fcache "k8s.io/client-go/tools/cache/testing"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// events records what a handler is given.
type events struct {
	mu  sync.Mutex
	got []string
	bad []any
}

func (e *events) note(what string, objs ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, o := range objs {
		if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
			o = t.Obj
		}
		s, ok := o.(*v1alpha1.SIM)
		if !ok {
			e.bad = append(e.bad, o)
			continue
		}
		what += " " + s.Name + "@" + s.Spec.IMSI
	}
	e.got = append(e.got, what)
}

func (e *events) snapshot() ([]string, []any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...), append([]any(nil), e.bad...)
}

func sim(name, imsi string) *v1alpha1.SIM {
	return &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "fleet",
		Annotations: map[string]string{"note": "dropped by the transform"}},
		Spec: v1alpha1.SIMSpec{IMSI: imsi}}
}

func TestTheInformerKeepsCompactObjectsAndEveryReaderGetsDecodedOnes(t *testing.T) {
	source := fcache.NewFakeControllerSource()
	defer source.Shutdown()
	byIMSI := func(o any) ([]string, error) { return []string{o.(*v1alpha1.SIM).Spec.IMSI}, nil }
	inf, err := NewSharedIndexInformer(source, &v1alpha1.SIM{}, 0, toolscache.Indexers{
		toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
	if err != nil {
		t.Fatal(err)
	}
	if err := inf.AddIndexers(toolscache.Indexers{"imsi": byIMSI}); err != nil {
		t.Fatal(err)
	}
	if err := inf.SetTransform(func(o any) (any, error) {
		o.(*v1alpha1.SIM).Annotations = nil
		return o, nil
	}); err != nil {
		t.Fatal(err)
	}
	var seen events
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { seen.note("add", o) },
		UpdateFunc: func(old, o any) { seen.note("update", old, o) },
		DeleteFunc: func(o any) { seen.note("delete", o) },
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	source.Add(sim("a", "238750000000001"))
	go inf.RunWithContext(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("never synced")
	}
	source.Add(sim("b", "238750000000002"))
	source.Modify(sim("a", "238750000000003"))
	source.Delete(sim("b", "238750000000002"))
	want := []string{"add a@238750000000001", "add b@238750000000002",
		"update a@238750000000001 a@238750000000003", "delete b@238750000000002"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, bad := seen.snapshot()
		if len(bad) > 0 {
			t.Fatalf("a handler was given %T", bad[0])
		}
		if reflect.DeepEqual(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler saw %q, want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}

	inner := inf.(*informer).SharedIndexInformer.GetIndexer()
	stored, _, _ := inner.GetByKey("fleet/a")
	if _, ok := stored.(*Object); !ok {
		t.Fatalf("the informer stores %T, not a compact Object", stored)
	}
	got, ok, err := inf.GetStore().GetByKey("fleet/a")
	if err != nil || !ok {
		t.Fatalf("fleet/a: %v %v", ok, err)
	}
	if s := got.(*v1alpha1.SIM); s.Spec.IMSI != "238750000000003" || s.Annotations != nil || s.ResourceVersion == "" {
		t.Fatalf("fleet/a reads as %+v", s)
	}
	for name, list := range map[string]func() ([]any, error){
		"ByIndex(imsi)": func() ([]any, error) { return inf.GetIndexer().ByIndex("imsi", "238750000000003") },
		"ByIndex(namespace)": func() ([]any, error) {
			return inf.GetIndexer().ByIndex(toolscache.NamespaceIndex, "fleet")
		},
		"List": func() ([]any, error) { return inf.GetIndexer().List(), nil },
	} {
		objs, err := list()
		if err != nil || len(objs) != 1 || objs[0].(*v1alpha1.SIM).Name != "a" {
			t.Errorf("%s: %v %v", name, objs, err)
		}
	}
	if objs, _ := inf.GetIndexer().ByIndex("imsi", "238750000000001"); len(objs) != 0 {
		t.Errorf("the old IMSI still finds %v", objs)
	}
}

func TestATombstoneIsDecodedInside(t *testing.T) {
	codec, _ := NewCodec(&v1alpha1.SIM{})
	data, _ := codec.Encode(nil, "fleet", "a", sim("a", "238750000000001"))
	r := newRecent(4)
	got := r.full(toolscache.DeletedFinalStateUnknown{Key: "fleet/a", Obj: &Object{data: string(data), codec: codec}})
	if s, ok := got.(toolscache.DeletedFinalStateUnknown).Obj.(*v1alpha1.SIM); !ok || s.Spec.IMSI != "238750000000001" {
		t.Fatalf("tombstone holds %#v", got)
	}
}

func TestRecentDecodesAreSharedUntilForgotten(t *testing.T) {
	codec, _ := NewCodec(&v1alpha1.SIM{})
	objs := make([]*Object, 3)
	for i := range objs {
		data, _ := codec.Encode(nil, "fleet", "a", sim("a", "23875000000000"+string(rune('1'+i))))
		objs[i] = &Object{data: string(data), codec: codec}
	}
	r := newRecent(2)
	first := r.full(objs[0])
	if r.full(objs[0]) != first {
		t.Fatal("a recent decode was decoded again")
	}
	r.full(objs[1])
	r.full(objs[2]) // forgets objs[0]
	again := r.full(objs[0])
	if again == first || !reflect.DeepEqual(again, first) {
		t.Fatal("a forgotten decode was not decoded again, the same")
	}
}

// Informers of one kind (a cache of several namespaces has one per
// namespace) share its codec, and so its dictionaries.
func TestInformersOfOneKindShareTheirCodec(t *testing.T) {
	var got []*Codec
	for range 2 {
		inf, err := NewSharedIndexInformer(fcache.NewFakeControllerSource(), &v1alpha1.SIM{}, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, inf.(*informer).codec)
	}
	other, err := NewSharedIndexInformer(fcache.NewFakeControllerSource(), &v1alpha1.SMSMessage{}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != got[1] || other.(*informer).codec == got[0] {
		t.Fatal("two SIM informers have two codecs, or an SMSMessage informer the SIMs'")
	}
}
