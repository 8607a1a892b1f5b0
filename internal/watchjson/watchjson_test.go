package watchjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	restwatch "k8s.io/client-go/rest/watch"
	"k8s.io/utils/ptr"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

func testScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = v1alpha1.AddToScheme(s)
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s
}

// decodeAll decodes a watch stream as client-go's Request.Watch does, with
// the serializers ns negotiates for JSON.
func decodeAll(t *testing.T, ns runtime.NegotiatedSerializer, body io.Reader) []string {
	t.Helper()
	objects, events, framer, err := runtime.NewClientNegotiator(ns, v1alpha1.GroupVersion).StreamDecoder(runtime.ContentTypeJSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	dec := restwatch.NewDecoder(streaming.NewDecoder(framer.NewFrameReader(io.NopCloser(body)), events), objects)
	var out []string
	for {
		typ, obj, err := dec.Decode()
		if err != nil {
			out = append(out, "error: "+errClass(err))
			return out
		}
		b, _ := json.Marshal(obj)
		out = append(out, fmt.Sprintf("%s %T %s", typ, obj, b))
	}
}

// errClass keeps what a caller acts on: the end of the stream, or a failure.
func errClass(err error) string {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return err.Error()
	}
	return "failed"
}

func sim(name string) string {
	s := v1alpha1.SIM{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "SIM"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "fleet", ResourceVersion: "7", Labels: map[string]string{"team": "a\"b{c}[d]\\"}},
		Spec: v1alpha1.SIMSpec{IMSI: "238730000000001", CurrentSettings: v1alpha1.CurrentSettings{
			Label: ptr.To(`unit "7" { } ] \ é ✓`), Tags: []string{"x", "}{"}}},
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// The streams the apiserver writes, and streams it does not, decode to the
// same events, objects and errors as with apimachinery's serializers,
// however the bytes arrive.
func TestStreamsDecodeAsApimachineryDecodesThem(t *testing.T) {
	scheme := testScheme()
	ours, theirs := NegotiatedSerializer(scheme), serializer.WithoutConversionCodecFactory{CodecFactory: serializer.NewCodecFactory(scheme)}
	status := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version","reason":"Expired","code":410}`
	bookmark := `{"kind":"SIM","apiVersion":"onomondo.sim-operator.dev/v1alpha1","metadata":{"resourceVersion":"12","annotations":{"k8s.io/initial-events-end":"true"}},"spec":{}}`
	streams := map[string]string{
		"events of every type": `{"type":"ADDED","object":` + sim("a") + "}\n" +
			`{"type":"MODIFIED","object":` + sim("b") + "}\n" +
			`{"type":"BOOKMARK","object":` + bookmark + "}\n" +
			`{"type":"DELETED","object":` + sim("a") + "}\n" +
			`{"type":"ERROR","object":` + status + "}\n",
		"white space and member order": " \n{ \"object\" : " + sim("c") + " ,\t\"type\" : \"ADDED\" }\r\n\n",
		"an escaped key":               `{"ty\u0070e":"ADDED","object":` + sim("d") + "}",
		"an escaped type":              `{"type":"ADD\u0045D","object":` + sim("d") + "}",
		"a member more":                `{"type":"ADDED","object":` + sim("e") + `,"extra":1}`,
		"a repeated type":              `{"type":"ADDED","type":"DELETED","object":` + sim("f") + "}",
		"a null object":                `{"type":"ADDED","object":null}`,
		"an unknown type":              `{"type":"TOUCHED","object":` + sim("g") + "}",
		"a kind spelt otherwise":       `{"type":"ADDED","object":{"Kind":"SIM","apiVersion":"onomondo.sim-operator.dev/v1alpha1","metadata":{"name":"h"}}}`,
		"a repeated kind":              `{"type":"ADDED","object":{"kind":"Status","apiVersion":"onomondo.sim-operator.dev/v1alpha1","kind":"SIM","metadata":{"name":"i"}}}`,
		"an escaped kind":              `{"type":"ADDED","object":{"kind":"S\u0049M","apiVersion":"onomondo.sim-operator.dev/v1alpha1","metadata":{"name":"j"}}}`,
		"an unknown kind":              `{"type":"ADDED","object":{"kind":"Nope","apiVersion":"onomondo.sim-operator.dev/v1alpha1"}}`,
		"a bad apiVersion":             `{"type":"ADDED","object":{"kind":"SIM","apiVersion":"a/b/c"}}`,
		"a truncated event":            `{"type":"ADDED","object":` + sim("k")[:40],
		"not an object":                `"ADDED"`,
		"an invalid object":            `{"type":"ADDED","object":{"kind":"SIM","apiVersion":"onomondo.sim-operator.dev/v1alpha1","metadata":{"name":}}}`,
		"nothing":                      "",
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":       func(r io.Reader) io.Reader { return r },
		"a byte each": iotest.OneByteReader,
		"halves":      iotest.HalfReader,
	}
	for name, stream := range streams {
		want := decodeAll(t, theirs, strings.NewReader(stream))
		for how, read := range readers {
			if got := decodeAll(t, ours, read(strings.NewReader(stream))); !equalLines(got, want) {
				t.Errorf("%s, read %s:\n got %q\nwant %q", name, how, got, want)
			}
		}
	}
}

func equalLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Lists and single objects decode as with apimachinery's serializers, into
// an object that held an earlier answer too.
func TestObjectsAndListsDecodeAsApimachineryDecodesThem(t *testing.T) {
	scheme := testScheme()
	ours := runtime.NewClientNegotiator(NegotiatedSerializer(scheme), v1alpha1.GroupVersion)
	theirs := runtime.NewClientNegotiator(serializer.WithoutConversionCodecFactory{CodecFactory: serializer.NewCodecFactory(scheme)}, v1alpha1.GroupVersion)
	list := `{"kind":"SIMList","apiVersion":"onomondo.sim-operator.dev/v1alpha1","metadata":{"resourceVersion":"9"},"items":[` + sim("a") + "," + sim("b") + "]}"
	decOurs, err := ours.Decoder(runtime.ContentTypeJSON, nil)
	if err != nil {
		t.Fatal(err)
	}
	decTheirs, _ := theirs.Decoder(runtime.ContentTypeJSON, nil)
	got := &v1alpha1.SIMList{Items: []v1alpha1.SIM{{}, {}, {}}} // an earlier, longer answer
	got.Continue = "stale"
	if _, _, err := decOurs.Decode([]byte(list), nil, got); err != nil {
		t.Fatal(err)
	}
	want := &v1alpha1.SIMList{}
	if _, _, err := decTheirs.Decode([]byte(list), nil, want); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Fatalf("list decoded as\n%+v\nwant\n%+v", got, want)
	}
}

// A frame larger than the decoder's buffer is handed out in parts.
func TestALargeFrameComesInParts(t *testing.T) {
	frame := `{"type":"ADDED","object":` + sim(strings.Repeat("n", 5000)) + "}"
	r := framer{}.NewFrameReader(io.NopCloser(strings.NewReader(frame + "\n" + frame)))
	for range 2 {
		var got []byte
		buf := make([]byte, 1000)
		for {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if err == nil {
				break
			}
			if err != io.ErrShortBuffer {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, []byte(frame)) {
			t.Fatalf("frame of %d bytes read as %d bytes", len(frame), len(got))
		}
	}
	if _, err := r.Read(make([]byte, 10)); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}
