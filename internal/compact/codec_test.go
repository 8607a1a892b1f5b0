package compact

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/randfill"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// filler fills every field the apiserver could send: times in whole
// seconds, quantities and raw JSON that parse.
func filler(seed int64) *randfill.Filler {
	return randfill.NewWithSeed(seed).NilChance(0.3).NumElements(0, 3).Funcs(
		func(t *metav1.Time, c randfill.Continue) {
			*t = metav1.Unix(c.Int63n(4e9), 0)
		},
		func(q *resource.Quantity, c randfill.Continue) {
			*q = *resource.NewQuantity(c.Int63n(1<<40), resource.BinarySI)
		},
		func(r *runtime.RawExtension, c randfill.Continue) {
			r.Raw = fmt.Appendf(nil, `{"n":%d}`, c.Int63())
		},
		func(f *metav1.FieldsV1, c randfill.Continue) {
			f.Raw = fmt.Appendf(nil, `{"f:n":%d}`, c.Int63())
		},
	)
}

// roundTrip is obj encoded under its own key (none for a list) and decoded.
func roundTrip(t testing.TB, codec *Codec, obj any) any {
	t.Helper()
	var namespace, name string
	if m, err := meta.Accessor(obj); err == nil {
		namespace, name = m.GetNamespace(), m.GetName()
	}
	b, err := codec.Encode(nil, namespace, name, obj)
	if err != nil {
		t.Fatal(err)
	}
	if ns, n, err := codec.Key(string(b)); err != nil || ns != namespace || n != name {
		t.Fatalf("key %q/%q (%v), want %q/%q", ns, n, err, namespace, name)
	}
	out, err := codec.Decode(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryKindOfTheOperatorRoundTrips(t *testing.T) {
	for gvk, typ := range scheme.AllKnownTypes() {
		if gvk.GroupVersion() != v1alpha1.GroupVersion {
			continue
		}
		t.Run(gvk.Kind, func(t *testing.T) {
			codec, err := NewCodec(reflect.New(typ).Interface())
			if err != nil {
				t.Fatal(err)
			}
			f := filler(int64(len(gvk.Kind)))
			for i := range 3 * dictSize {
				in := reflect.New(typ).Interface()
				f.Fill(in)
				out := roundTrip(t, codec, in)
				if !equality.Semantic.DeepEqual(in, out) {
					t.Fatalf("object %d changed in the round trip:\n in: %+v\nout: %+v", i, in, out)
				}
			}
		})
	}
}

// readySIM is a SIM as the cache holds one the operator made Ready, with
// the second edition's settings set.
func readySIM() *v1alpha1.SIM {
	now := metav1.NewTime(time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC))
	settings := v1alpha1.SIMSettings{Voice: ptr.To(true), SMS: ptr.To(true), Data: ptr.To(false)}
	return &v1alpha1.SIM{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "SIM"},
		ObjectMeta: metav1.ObjectMeta{Name: "sim-000042", Namespace: "fleet", UID: "0b5f4c7e-3d1a-4f7e-9a55-2f0c1d2e3f40",
			ResourceVersion: "100042", Generation: 2, CreationTimestamp: now,
			Labels: map[string]string{"site": "north"}, Finalizers: []string{"onomondo.sim-operator.dev/finalizer"}},
		Spec: v1alpha1.SIMSpec{IMSI: "238750000000042", SIMSettings: settings,
			CurrentSettings: v1alpha1.CurrentSettings{Activated: ptr.To(true), Label: ptr.To(""),
				DataLimit: &v1alpha1.DataLimit{Total: resource.MustParse("500Mi")}}},
		Status: v1alpha1.SIMStatus{
			ManagedStatus: v1alpha1.ManagedStatus{ObservedGeneration: 2, Claim: "sim-238750000000042",
				Conditions: []metav1.Condition{
					{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, ObservedGeneration: 2, LastTransitionTime: now, Reason: "Available", Message: "voice on, SMS on, data off"},
					{Type: v1alpha1.ConditionSynced, Status: metav1.ConditionTrue, ObservedGeneration: 2, LastTransitionTime: now, Reason: "ReconcileSuccess", Message: "the SIM matches its spec"},
				}},
			Binding:    &v1alpha1.SIMBinding{IMSI: "238750000000042"},
			AtProvider: &v1alpha1.SIMObservation{IMSI: "238750000000042", MSISDN: "4530000042", SIMSettings: settings},
		},
	}
}

// fromWire is obj as the informer decodes it from the apiserver's JSON.
func fromWire(t testing.TB, obj runtime.Object) runtime.Object {
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := serializer.NewCodecFactory(scheme).UniversalDeserializer().Decode(b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAnObjectDecodedFromTheWireDecodesExactlyAsItWas(t *testing.T) {
	codec, err := NewCodec(&v1alpha1.SIM{})
	if err != nil {
		t.Fatal(err)
	}
	wire := fromWire(t, readySIM())
	out := roundTrip(t, codec, wire)
	// Exactly, not semantically: the status writer compares what it
	// read with what it would write, times and nil slices included.
	if !reflect.DeepEqual(wire, out) {
		t.Fatalf("decoded differently:\nwire: %+v\nout:  %+v", wire, out)
	}
	if !reflect.DeepEqual(out.(*v1alpha1.SIM).Spec.DataLimit.Total, resource.MustParse("500Mi")) {
		t.Fatalf("the data limit is %v", out.(*v1alpha1.SIM).Spec.DataLimit.Total)
	}
}

func TestNilAndEmptyStayApart(t *testing.T) {
	codec, err := NewCodec(&v1alpha1.SIM{})
	if err != nil {
		t.Fatal(err)
	}
	in := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{Finalizers: []string{}, Annotations: map[string]string{}}}
	got := roundTrip(t, codec, in).(*v1alpha1.SIM)
	if got.Finalizers == nil || got.Annotations == nil || got.Labels != nil || got.Status.Conditions != nil {
		t.Fatalf("finalizers %#v, annotations %#v, labels %#v, conditions %#v", got.Finalizers, got.Annotations, got.Labels, got.Status.Conditions)
	}
}

func TestCutEncodingsFailInsteadOfDecodingWrong(t *testing.T) {
	codec, err := NewCodec(&v1alpha1.SIM{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := codec.Encode(nil, "fleet", "sim-000042", readySIM())
	for n := range len(b) {
		if _, err := codec.Decode(string(b[:n])); err == nil {
			t.Fatalf("the first %d of %d bytes decoded", n, len(b))
		}
	}
	if _, err := codec.Decode(string(b) + "x"); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Fatalf("trailing bytes: %v", err)
	}
	if _, err := codec.Decode(string(b)); err != nil {
		t.Fatal(err)
	}
}

func TestTypesTheEncodingCannotCarryAreRefusedByName(t *testing.T) {
	type hidden struct{ secret string }
	type opaque struct{ Any any }
	for _, c := range []struct {
		obj  any
		want string
	}{
		{&struct{ Meta hidden }{}, "secret is unexported"},
		{&opaque{}, "interface {} cannot be encoded"},
		{&struct{ F func() }{}, "func() cannot be encoded"},
		{v1alpha1.SIM{}, "want a pointer to a struct"},
	} {
		if _, err := NewCodec(c.obj); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%T: got %v, want an error with %q", c.obj, err, c.want)
		}
	}
}

func TestAnotherTypeIsNotEncoded(t *testing.T) {
	codec, _ := NewCodec(&v1alpha1.SIM{})
	if _, err := codec.Encode(nil, "", "", &v1alpha1.Connector{}); err == nil {
		t.Fatal("a Connector was encoded by a SIM codec")
	}
}

// fleetSIM is the i-th of a fleet of Ready SIMs: readySIM with its own
// name, UID, resource version, IMSI and MSISDN.
func fleetSIM(i int) *v1alpha1.SIM {
	s := readySIM()
	s.Name, s.UID = fmt.Sprintf("sim-%06d", i), types.UID(fmt.Sprintf("0b5f4c7e-3d1a-4f7e-9a55-%012d", i))
	s.ResourceVersion = fmt.Sprint(100000 + i)
	s.Spec.IMSI = fmt.Sprintf("23875%010d", i)
	s.Status.Claim = "sim-" + s.Spec.IMSI
	s.Status.Binding.IMSI, s.Status.AtProvider.IMSI = s.Spec.IMSI, s.Spec.IMSI
	s.Status.AtProvider.MSISDN = fmt.Sprintf("4530%06d", i)
	return s
}

// BenchmarkSIM reports a Ready SIM's encoding in a fleet (the dictionaries
// full) and what an encode and a decode cost, against a deep copy.
func BenchmarkSIM(b *testing.B) {
	codec, _ := NewCodec(&v1alpha1.SIM{})
	var data []byte
	for i := range 2 * dictSize {
		data, _ = codec.Encode(nil, "fleet", fmt.Sprintf("sim-%06d", i), fromWire(b, fleetSIM(i)))
	}
	wire := fromWire(b, fleetSIM(2*dictSize))
	b.Run("encode", func(b *testing.B) {
		buf := make([]byte, 0, 512)
		for b.Loop() {
			buf, _ = codec.Encode(buf[:0], "fleet", "sim-000512", wire)
		}
		b.ReportMetric(float64(len(data)), "B/SIM")
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		s := string(data)
		for b.Loop() {
			if _, err := codec.Decode(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("deepcopy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = wire.DeepCopyObject()
		}
	})
}

func TestUIDsAndOtherStringsKeepTheirExactText(t *testing.T) {
	codec, err := NewCodec(&v1alpha1.SIM{})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip := func(uid string) {
		in := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), Labels: map[string]string{"copy": uid}}}
		if got := roundTrip(t, codec, in).(*v1alpha1.SIM); string(got.UID) != uid || got.Labels["copy"] != uid {
			t.Fatalf("%q came back as %q and %q", uid, got.UID, got.Labels["copy"])
		}
	}
	for i := range dictSize { // fills the dictionaries
		roundTrip(fmt.Sprint(i))
	}
	for _, uid := range []string{"0b5f4c7e-3d1a-4f7e-9a55-2f0c1d2e3f40", "0B5F4C7E-3D1A-4F7E-9A55-2F0C1D2E3F40",
		"0b5f4c7e_3d1a-4f7e-9a55-2f0c1d2e3f40", "0b5f4c7e-3d1a-4f7e-9a55-2f0c1d2e3f4x", "not a uuid", ""} {
		roundTrip(uid)
	}
}

// A decoded object's namespace and name do not point into the encoding:
// a workqueue holding them would keep a replaced encoding alive.
func TestTheDecodedKeyHasBytesOfItsOwn(t *testing.T) {
	codec, _ := NewCodec(&v1alpha1.SIM{})
	for i := range 2 * dictSize {
		in := fleetSIM(i)
		in.Namespace = fmt.Sprint("ns-", i) // past the namespace dictionary
		b, _ := codec.Encode(nil, in.Namespace, in.Name, in)
		data := string(b)
		out, err := codec.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		s := out.(*v1alpha1.SIM)
		for _, str := range []string{s.Namespace, s.Name} {
			if inside(data, str) {
				t.Fatalf("SIM %d: %q points into its encoding", i, str)
			}
		}
		if s.Name != in.Name || s.Namespace != in.Namespace {
			t.Fatalf("SIM %d decoded as %s/%s", i, s.Namespace, s.Name)
		}
	}
}

// inside: sub's bytes are within s's.
func inside(s, sub string) bool {
	if len(sub) == 0 || len(s) == 0 {
		return false
	}
	start, p := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(sub)))
	return p >= start && p < start+uintptr(len(s))
}

// A connector's raw config keeps its bytes: its drift is compared as
// written, and encoding/json would have compacted it and escaped "&".
func TestRawJSONKeepsItsBytes(t *testing.T) {
	codec, err := NewCodec(&v1alpha1.Connector{})
	if err != nil {
		t.Fatal(err)
	}
	raw := `{ "url": "https://example.com/hook?a=1&b=<2>",  "n": 1 }`
	in := &v1alpha1.Connector{Spec: v1alpha1.ConnectorSpec{Config: runtime.RawExtension{Raw: []byte(raw)}}}
	if got := string(roundTrip(t, codec, in).(*v1alpha1.Connector).Spec.Config.Raw); got != raw {
		t.Fatalf("config came back as %s", got)
	}
}
