// Package compact keeps an informer's objects in a compact binary form and
// decodes them when they are read.
//
// A decoded SIM in the informer cache is about 1,250 bytes, most of it Go
// structs whose fields are empty (ObjectMeta alone is 232 bytes; the
// second edition's settings are in the spec and the observation of every
// SIM, set or not). Encoded here a Ready SIM is about 180 bytes: a bitmap
// of each struct's fields that are set, then those fields in declaration
// order, strings through per-field dictionaries or as references to the
// object's earlier strings. At 50,000 SIMs that is most of the difference
// between a 220 MiB manager and a 150 MiB one (docs/performance.md).
//
// The encoding is exact for what a JSON decode produces: nil and empty
// slices and maps stay apart, times decode in the local zone as
// metav1.Time's JSON decode gives them, and a value whose type has a JSON
// form of its own (a resource.Quantity, a runtime.RawExtension) travels as
// that JSON. A type the encoding cannot carry (an unexported field, an
// interface) is refused when its codec is built, never met later.
package compact

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Codec encodes and decodes values of one struct type, each after its
// key (an object's namespace and name).
type Codec struct {
	typ  reflect.Type
	plan *plan
	// key are the dictionaries of the key's strings.
	key [2]dict
}

// NewCodec builds the codec of the type obj points to, or says which
// field the encoding cannot carry.
func NewCodec(obj any) (*Codec, error) {
	t := reflect.TypeOf(obj)
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("compact: want a pointer to a struct, got %v", t)
	}
	p, err := compile(t.Elem(), map[reflect.Type]*plan{})
	if err != nil {
		return nil, fmt.Errorf("compact: %v: %w", t.Elem(), err)
	}
	c := &Codec{typ: t.Elem(), plan: p}
	c.key[0].add("")
	c.key[1].add("")
	return c, nil
}

// Encode appends the encoding of namespace, name and obj (a pointer of the
// codec's type) to buf. The object's own copies of its namespace and name
// then cost two bytes each. It fails only if a value with a JSON form
// fails to marshal.
func (c *Codec) Encode(buf []byte, namespace, name string, obj any) ([]byte, error) {
	v := reflect.ValueOf(obj)
	if v.Type() != reflect.PointerTo(c.typ) || v.IsNil() {
		return buf, fmt.Errorf("compact: codec of %v cannot encode %T", c.typ, obj)
	}
	e := encoder{buf: buf}
	e.string(&c.key[0], namespace)
	e.string(&c.key[1], name)
	c.plan.enc(&e, v.Elem())
	return e.buf, e.err
}

// Key returns the namespace and the name data was encoded with.
func (c *Codec) Key(data string) (namespace, name string, err error) {
	d := decoder{s: data}
	namespace, name = d.string(&c.key[0]), d.string(&c.key[1])
	return namespace, name, d.err
}

// Decode returns a new value of the codec's type decoded from data. The
// decoded strings share data's bytes (a string is immutable), so a
// decoded object costs its structs and nothing for its text.
func (c *Codec) Decode(data string) (any, error) {
	v := reflect.New(c.typ)
	var written [8]string
	d := decoder{s: data, written: written[:0]}
	d.string(&c.key[0])
	d.string(&c.key[1])
	// The key's strings outlive the decoded object in workqueues, drift
	// schedules and metrics: they get bytes of their own, so that they do
	// not keep a replaced encoding alive. The object's copies are the same.
	for i, s := range d.written {
		d.written[i] = strings.Clone(s)
	}
	c.plan.dec(&d, v.Elem())
	if d.err == nil && d.i != len(d.s) {
		d.err = errors.New("trailing bytes")
	}
	if d.err != nil {
		return nil, fmt.Errorf("compact: decoding %v: %w", c.typ, d.err)
	}
	return v.Interface(), nil
}

type encoder struct {
	buf     []byte
	err     error
	written []string // the strings written as bytes so far
}

func (e *encoder) uvarint(n uint64) { e.buf = binary.AppendUvarint(e.buf, n) }
func (e *encoder) varint(n int64)   { e.buf = binary.AppendVarint(e.buf, n) }
func (e *encoder) bytes(b string) {
	e.uvarint(uint64(len(b)))
	e.buf = append(e.buf, b...)
}

// length writes a slice's or a map's length, keeping nil apart: 0 is nil,
// n+1 is n elements.
func (e *encoder) length(v reflect.Value) bool {
	if v.IsNil() {
		e.uvarint(0)
		return false
	}
	e.uvarint(uint64(v.Len()) + 1)
	return true
}

type decoder struct {
	s       string
	i       int
	err     error
	written []string // the strings read as bytes so far
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.i = len(d.s)
}

var errShort = errors.New("data ends early")

func (d *decoder) byte() byte {
	if d.i >= len(d.s) {
		d.fail(errShort)
		return 0
	}
	b := d.s[d.i]
	d.i++
	return b
}

func (d *decoder) uvarint() uint64 {
	var n uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b := d.byte()
		n |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return n
		}
	}
	d.fail(errors.New("varint overflows"))
	return 0
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// length reads what encoder.length wrote: -1 for nil.
func (d *decoder) length() int {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.i)+1 { // every element takes at least a byte
		d.fail(errShort)
		return -1
	}
	return int(n) - 1
}

func (d *decoder) bytes() string {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.i) {
		d.fail(errShort)
		return ""
	}
	b := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return b
}

// plan encodes and decodes one type; v is addressable when decoding.
type plan struct {
	enc func(*encoder, reflect.Value)
	dec func(*decoder, reflect.Value)
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	metaTimeType  = reflect.TypeFor[metav1.Time]()
	microTimeType = reflect.TypeFor[metav1.MicroTime]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	unmarshalType = reflect.TypeFor[json.Unmarshaler]()
)

// compile returns the plan of t, building it (and its parts') into
// building: a codec's plans, its dictionaries with them, are its own.
func compile(t reflect.Type, building map[reflect.Type]*plan) (*plan, error) {
	if p, ok := building[t]; ok {
		return p, nil // built, or a recursive type filled in before it runs
	}
	p := &plan{}
	building[t] = p
	if err := fill(p, t, building); err != nil {
		return nil, err
	}
	return p, nil
}

func fill(p *plan, t reflect.Type, building map[reflect.Type]*plan) error {
	switch {
	case t == timeType, t == metaTimeType, t == microTimeType:
		p.enc, p.dec = encTime, decTime
		return nil
	case t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(marshalerType) && reflect.PointerTo(t).Implements(unmarshalType):
		p.enc, p.dec = encJSON, decJSON
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		p.enc = func(e *encoder, v reflect.Value) {
			b := byte(0)
			if v.Bool() {
				b = 1
			}
			e.buf = append(e.buf, b)
		}
		p.dec = func(d *decoder, v reflect.Value) { v.SetBool(d.byte() != 0) }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.enc = func(e *encoder, v reflect.Value) { e.varint(v.Int()) }
		p.dec = func(d *decoder, v reflect.Value) { v.SetInt(d.varint()) }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.enc = func(e *encoder, v reflect.Value) { e.uvarint(v.Uint()) }
		p.dec = func(d *decoder, v reflect.Value) { v.SetUint(d.uvarint()) }
	case reflect.Float32, reflect.Float64:
		p.enc = func(e *encoder, v reflect.Value) { e.uvarint(math.Float64bits(v.Float())) }
		p.dec = func(d *decoder, v reflect.Value) { v.SetFloat(math.Float64frombits(d.uvarint())) }
	case reflect.String:
		fillString(p)
	case reflect.Pointer:
		return fillPointer(p, t, building)
	case reflect.Slice:
		return fillSlice(p, t, building)
	case reflect.Array:
		return fillArray(p, t, building)
	case reflect.Map:
		return fillMap(p, t, building)
	case reflect.Struct:
		return fillStruct(p, t, building)
	default:
		return fmt.Errorf("%v cannot be encoded", t)
	}
	return nil
}

func fillPointer(p *plan, t reflect.Type, building map[reflect.Type]*plan) error {
	elem, err := compile(t.Elem(), building)
	if err != nil {
		return err
	}
	p.enc = func(e *encoder, v reflect.Value) {
		if v.IsNil() {
			e.buf = append(e.buf, 0)
			return
		}
		e.buf = append(e.buf, 1)
		elem.enc(e, v.Elem())
	}
	p.dec = func(d *decoder, v reflect.Value) {
		if d.byte() == 0 {
			return
		}
		n := reflect.New(t.Elem())
		elem.dec(d, n.Elem())
		v.Set(n)
	}
	return nil
}

func fillSlice(p *plan, t reflect.Type, building map[reflect.Type]*plan) error {
	if t.Elem().Kind() == reflect.Uint8 {
		p.enc = func(e *encoder, v reflect.Value) {
			if e.length(v) {
				e.buf = append(e.buf, v.Bytes()...)
			}
		}
		p.dec = func(d *decoder, v reflect.Value) {
			n := d.length()
			switch {
			case n > len(d.s)-d.i:
				d.fail(errShort)
			case n >= 0:
				b := reflect.MakeSlice(t, n, n)
				copy(b.Bytes(), d.s[d.i:d.i+n]) // a []byte is mutable: it gets its own bytes
				d.i += n
				v.Set(b)
			}
		}
		return nil
	}
	elem, err := compile(t.Elem(), building)
	if err != nil {
		return err
	}
	p.enc = func(e *encoder, v reflect.Value) {
		if e.length(v) {
			for i := range v.Len() {
				elem.enc(e, v.Index(i))
			}
		}
	}
	p.dec = func(d *decoder, v reflect.Value) {
		n := d.length()
		if n < 0 {
			return
		}
		s := reflect.MakeSlice(t, n, n)
		for i := range n {
			elem.dec(d, s.Index(i))
		}
		v.Set(s)
	}
	return nil
}

func fillArray(p *plan, t reflect.Type, building map[reflect.Type]*plan) error {
	elem, err := compile(t.Elem(), building)
	if err != nil {
		return err
	}
	p.enc = func(e *encoder, v reflect.Value) {
		for i := range v.Len() {
			elem.enc(e, v.Index(i))
		}
	}
	p.dec = func(d *decoder, v reflect.Value) {
		for i := range v.Len() {
			elem.dec(d, v.Index(i))
		}
	}
	return nil
}

func fillMap(p *plan, t reflect.Type, building map[reflect.Type]*plan) error {
	key, err := compile(t.Key(), building)
	if err != nil {
		return err
	}
	val, err := compile(t.Elem(), building)
	if err != nil {
		return err
	}
	p.enc = func(e *encoder, v reflect.Value) {
		if e.length(v) {
			for it := v.MapRange(); it.Next(); {
				key.enc(e, it.Key())
				val.enc(e, it.Value())
			}
		}
	}
	p.dec = func(d *decoder, v reflect.Value) {
		n := d.length()
		if n < 0 {
			return
		}
		m := reflect.MakeMapWithSize(t, n)
		k, x := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
		for range n {
			k.SetZero()
			x.SetZero()
			key.dec(d, k)
			val.dec(d, x)
			m.SetMapIndex(k, x)
		}
		v.Set(m)
	}
	return nil
}

func fillStruct(p *plan, t reflect.Type, building map[reflect.Type]*plan) error {
	type field struct {
		index int
		plan  *plan
	}
	var fields []field
	var err error
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			return fmt.Errorf("%v.%s is unexported", t, f.Name)
		}
		fp := &plan{}
		if f.Type.Kind() == reflect.String {
			fillString(fp) // each string field has its own dictionary
		} else if fp, err = compile(f.Type, building); err != nil {
			return err
		}
		fields = append(fields, field{i, fp})
	}
	// A bitmap of the fields that are set comes first; only those follow.
	// Most of a SIM's fields are empty.
	bitmap := (len(fields) + 7) / 8
	p.enc = func(e *encoder, v reflect.Value) {
		at := len(e.buf)
		e.buf = append(e.buf, make([]byte, bitmap)...)
		for i, f := range fields {
			if fv := v.Field(f.index); !fv.IsZero() {
				e.buf[at+i/8] |= 1 << (i % 8)
				f.plan.enc(e, fv)
			}
		}
	}
	p.dec = func(d *decoder, v reflect.Value) {
		if d.i+bitmap > len(d.s) {
			d.fail(errShort)
			return
		}
		set := d.s[d.i : d.i+bitmap]
		d.i += bitmap
		for i, f := range fields {
			if set[i/8]&(1<<(i%8)) != 0 {
				f.plan.dec(d, v.Field(f.index))
			}
		}
	}
	return nil
}

// fillString makes p encode strings through a dictionary of its own: the
// first dictSize values it meets are written as their number in it, every
// other value as its bytes. A field whose values repeat across objects (a
// namespace, a condition's reason and message, the API version) then costs
// a byte or two; one whose values are unique (a name, an IMSI) costs its
// bytes and one more.
func fillString(p *plan) {
	var d dict
	d.add("")
	p.enc = func(e *encoder, v reflect.Value) { e.string(&d, v.String()) }
	p.dec = func(dec *decoder, v reflect.Value) { v.SetString(dec.string(&d)) }
}

// Tags of a string: its bytes follow, or the number of a string written
// before in the same object (a SIM's IMSI is in its spec, its binding and
// its observation), or the 16 bytes of a UUID in its canonical form (an
// object's UID), or (tagDict+n) the number n in the field's dictionary.
const (
	tagBytes = iota
	tagEarlier
	tagUUID
	tagDict
)

// uuidBytes are s's 16 bytes if s is a UUID as the apiserver writes a UID:
// lower-case hex in groups of 8-4-4-4-12.
func uuidBytes(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	digits := s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(u[:], []byte(digits)); err != nil || hex.EncodeToString(u[:]) != digits {
		return u, false // not hex, or not lower case
	}
	return u, true
}

// uuidString is the canonical form of u.
func uuidString(u string) string {
	h := hex.EncodeToString([]byte(u))
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// string writes s as the first of: a string the object wrote before, a
// UUID (UIDs are unique: they would only fill a dictionary), a number in
// d, its bytes.
func (e *encoder) string(d *dict, s string) {
	if i := slices.Index(e.written, s); i >= 0 {
		e.uvarint(tagEarlier)
		e.uvarint(uint64(i))
		return
	}
	if u, ok := uuidBytes(s); ok {
		e.written = append(e.written, s)
		e.uvarint(tagUUID)
		e.buf = append(e.buf, u[:]...)
		return
	}
	if n, ok := d.code(s); ok {
		e.uvarint(tagDict + n)
		return
	}
	e.written = append(e.written, s)
	e.uvarint(tagBytes)
	e.bytes(s)
}

func (dec *decoder) string(d *dict) string {
	switch n := dec.uvarint(); n {
	case tagBytes:
		s := dec.bytes()
		dec.written = append(dec.written, s)
		return s
	case tagUUID:
		if dec.i+16 > len(dec.s) {
			dec.fail(errShort)
			return ""
		}
		s := uuidString(dec.s[dec.i : dec.i+16])
		dec.i += 16
		dec.written = append(dec.written, s)
		return s
	case tagEarlier:
		i := dec.uvarint()
		if i >= uint64(len(dec.written)) {
			dec.fail(errors.New("no such earlier string"))
			return ""
		}
		return dec.written[i]
	default:
		values := *d.values.Load()
		if n-tagDict >= uint64(len(values)) {
			dec.fail(errors.New("string not in the dictionary"))
			return ""
		}
		return values[n-tagDict]
	}
}

// dictSize is how many values a string field's dictionary takes.
const dictSize = 256

// dict numbers the first dictSize strings it is asked for. It only grows,
// so a number once written means the same string for as long as the
// process lives; decoders read it without a lock.
type dict struct {
	mu     sync.Mutex
	codes  map[string]uint64
	values atomic.Pointer[[]string]
}

func (d *dict) code(s string) (uint64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.codes[s]; ok {
		return n, true
	}
	if len(d.codes) >= dictSize {
		return 0, false
	}
	return d.add(s), true
}

// add numbers s; d.mu is held (or d is not shared yet).
func (d *dict) add(s string) uint64 {
	if d.codes == nil {
		d.codes = map[string]uint64{}
	}
	var values []string
	if p := d.values.Load(); p != nil {
		values = *p
	}
	values = append(values[:len(values):len(values)], strings.Clone(s))
	d.values.Store(&values)
	n := uint64(len(values) - 1)
	d.codes[values[n]] = n
	return n
}

// encTime writes a time as a flag (0: the zero time) and its instant.
// Decoded, it is in the local zone, as metav1.Time's JSON decode makes it.
func encTime(e *encoder, v reflect.Value) {
	t := timeOf(v)
	if t.IsZero() {
		e.buf = append(e.buf, 0)
		return
	}
	e.buf = append(e.buf, 1)
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
}

func decTime(d *decoder, v reflect.Value) {
	if d.byte() == 0 {
		return
	}
	sec := d.varint()
	t := time.Unix(sec, int64(d.uvarint()))
	*(*time.Time)(unsafe.Pointer(v.UnsafeAddr())) = t
}

// timeOf reads a time.Time, metav1.Time or metav1.MicroTime: the latter two
// are a time.Time and nothing else.
func timeOf(v reflect.Value) time.Time {
	if v.CanAddr() {
		return *(*time.Time)(unsafe.Pointer(v.UnsafeAddr()))
	}
	switch t := v.Interface().(type) {
	case metav1.Time:
		return t.Time
	case metav1.MicroTime:
		return t.Time
	default:
		return t.(time.Time)
	}
}

// encJSON writes a value with a JSON form of its own as that JSON, after a
// flag (0: the zero value, kept exactly). The type's own MarshalJSON and
// UnmarshalJSON are called, not encoding/json's, which would compact the
// JSON and escape HTML in it: a connector's raw config comes back with the
// bytes it had.
func encJSON(e *encoder, v reflect.Value) {
	if v.IsZero() {
		e.buf = append(e.buf, 0)
		return
	}
	if !v.CanAddr() { // a map's value: MarshalJSON may want a pointer
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		v = p.Elem()
	}
	b, err := v.Addr().Interface().(json.Marshaler).MarshalJSON()
	if err != nil && e.err == nil {
		e.err = err
	}
	e.buf = append(e.buf, 1)
	e.bytes(unsafe.String(unsafe.SliceData(b), len(b)))
}

func decJSON(d *decoder, v reflect.Value) {
	if d.byte() == 0 {
		return
	}
	b := d.bytes()
	if d.err != nil {
		return
	}
	if err := v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON([]byte(b)); err != nil {
		d.fail(err)
	}
}
