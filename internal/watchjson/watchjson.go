// Package watchjson decodes the apiserver's JSON watch streams for the
// manager's informers at less than half of apimachinery's cost per object.
//
// A starting manager decodes its whole fleet from one watch stream (the
// streaming initial list) on one goroutine, before any worker starts; the
// same decode serves every watch event afterwards. apimachinery's JSON
// stream decoding reads each object's bytes many times: the framer scans
// each event, each event is decoded into a WatchEvent after an
// encoding/json pass that only looks for its kind, and each object is
// decoded after another such pass. Here the framer and both kind lookups
// only match brackets (one pass each), and the event's two members are
// cut out of the frame without a decode; the object itself is decoded by
// apimachinery's JSON serializer, unchanged. Anything the scanner does not
// recognise (an escaped key, an unexpected member, an odd byte) takes
// apimachinery's own path, which also produces its errors.
package watchjson

import (
	"bufio"
	"bytes"
	"io"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
)

// NegotiatedSerializer is the scheme's codecs (without conversion, as
// controller-runtime's clients use them) with JSON streams and JSON
// objects decoded by this package.
func NegotiatedSerializer(scheme *runtime.Scheme) runtime.NegotiatedSerializer {
	codecs := serializer.NewCodecFactory(scheme)
	objects := json.NewSerializerWithOptions(metaFactory{}, scheme, scheme, json.SerializerOptions{})
	infos := append([]runtime.SerializerInfo(nil), codecs.SupportedMediaTypes()...)
	for i, info := range infos {
		if info.MediaType != runtime.ContentTypeJSON || info.StreamSerializer == nil {
			continue
		}
		info.Serializer = objects
		stream := *info.StreamSerializer
		stream.Serializer = events{Serializer: objects}
		stream.Framer = framer{next: stream.Framer}
		info.StreamSerializer = &stream
		infos[i] = info
	}
	return negotiated{NegotiatedSerializer: serializer.WithoutConversionCodecFactory{CodecFactory: codecs}, infos: infos}
}

type negotiated struct {
	runtime.NegotiatedSerializer
	infos []runtime.SerializerInfo
}

func (n negotiated) SupportedMediaTypes() []runtime.SerializerInfo { return n.infos }

// DecoderToVersion zeroes the object it decodes into first, as
// controller-runtime's clients do: a list decoded into a reused object
// keeps nothing of an earlier answer.
func (n negotiated) DecoderToVersion(d runtime.Decoder, gv runtime.GroupVersioner) runtime.Decoder {
	return zeroing{n.NegotiatedSerializer.DecoderToVersion(d, gv)}
}

type zeroing struct{ runtime.Decoder }

func (z zeroing) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if into != nil {
		v := reflect.ValueOf(into).Elem()
		v.Set(reflect.Zero(v.Type()))
	}
	return z.Decoder.Decode(data, defaults, into)
}

// metaFactory finds an object's apiVersion and kind among its top-level
// members, exactly as json.DefaultMetaFactory does (whose encoding/json
// pass matches keys case-insensitively and keeps the last of repeated
// ones), or asks json.DefaultMetaFactory when a member is not plain.
type metaFactory struct{}

var (
	keyAPIVersion = []byte("apiVersion")
	keyKind       = []byte("kind")
)

func (metaFactory) Interpret(data []byte) (*schema.GroupVersionKind, error) {
	var apiVersion, kind []byte
	ok := members(data, func(m member) bool {
		dst := &apiVersion
		switch {
		case bytes.Equal(m.key, keyAPIVersion):
		case bytes.Equal(m.key, keyKind):
			dst = &kind
		case bytes.EqualFold(m.key, keyAPIVersion), bytes.EqualFold(m.key, keyKind):
			return false // another spelling: encoding/json's rules decide
		default:
			return true
		}
		v, end, ok := plainString(data, m.start)
		*dst = v
		return ok && end == m.end
	})
	if !ok {
		return json.DefaultMetaFactory.Interpret(data)
	}
	gv, err := schema.ParseGroupVersion(string(apiVersion))
	if err != nil {
		return nil, err
	}
	return &schema.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: string(kind)}, nil
}

// events decodes a watch event's frame into a metav1.WatchEvent by
// cutting its type and object out of it; any other target, or an event
// with other members, goes to the object serializer.
type events struct{ runtime.Serializer }

var (
	keyType   = []byte("type")
	keyObject = []byte("object")
)

func (e events) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	ev, ok := into.(*metav1.WatchEvent)
	if !ok {
		return e.Serializer.Decode(data, defaults, into)
	}
	var typ, object []byte
	plain := members(data, func(m member) bool {
		switch {
		case bytes.Equal(m.key, keyType) && typ == nil:
			v, end, ok := plainString(data, m.start)
			typ = v
			return ok && end == m.end && v != nil
		case bytes.Equal(m.key, keyObject) && object == nil && data[m.start] == '{':
			object = data[m.start:m.end]
			return true
		}
		return false
	})
	if !plain || typ == nil || object == nil {
		return e.Serializer.Decode(data, defaults, into)
	}
	ev.Type = string(typ)
	ev.Object = runtime.RawExtension{Raw: bytes.Clone(object)} // the frame's buffer is reused
	return ev, &schema.GroupVersionKind{}, nil
}

// framer reads one JSON value a frame by matching brackets; it writes as
// next does.
type framer struct{ next runtime.Framer }

func (f framer) NewFrameReader(r io.ReadCloser) io.ReadCloser {
	return &frameReader{r: bufio.NewReaderSize(r, 64<<10), c: r}
}

func (f framer) NewFrameWriter(w io.Writer) io.Writer { return f.next.NewFrameWriter(w) }

// frameReader hands out one JSON value per frame, as apimachinery's JSON
// framer does: a frame larger than the caller's buffer comes in parts,
// each but the last with io.ErrShortBuffer.
type frameReader struct {
	r     *bufio.Reader
	c     io.Closer
	frame []byte // the current frame
	off   int    // how much of it was handed out
}

func (f *frameReader) Read(p []byte) (int, error) {
	if f.off >= len(f.frame) {
		frame, err := f.next(f.frame[:0])
		if err != nil {
			return 0, err
		}
		f.frame, f.off = frame, 0
	}
	n := copy(p, f.frame[f.off:])
	if f.off += n; f.off < len(f.frame) {
		return n, io.ErrShortBuffer
	}
	return n, nil
}

func (f *frameReader) Close() error { return f.c.Close() }

// next reads the next value (after any white space) into buf.
func (f *frameReader) next(buf []byte) ([]byte, error) {
	var (
		value   brackets
		started bool
	)
	for {
		chunk, err := f.r.Peek(max(f.r.Buffered(), 1))
		if len(chunk) == 0 {
			if err == io.EOF && started {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		start := 0
		if !started {
			start = skipSpace(chunk, 0)
			if start == len(chunk) {
				_, _ = f.r.Discard(start)
				continue
			}
			if chunk[start] != '{' && chunk[start] != '[' {
				return nil, &scanError{b: chunk[start]}
			}
			started = true
		}
		if end := value.scan(chunk[start:]); end >= 0 {
			buf = append(buf, chunk[start:start+end]...)
			_, _ = f.r.Discard(start + end)
			return buf, nil
		}
		buf = append(buf, chunk[start:]...)
		_, _ = f.r.Discard(len(chunk))
	}
}

// scanError is a stream that does not hold JSON objects or arrays.
type scanError struct{ b byte }

func (e *scanError) Error() string {
	return "watch stream: want a JSON object, found " + string(rune(e.b))
}
