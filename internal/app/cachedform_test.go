package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	restwatch "k8s.io/client-go/rest/watch"
	"k8s.io/utils/ptr"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/compact"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/watchjson"
)

// storedSIM is a SIM as the apiserver sends it once the operator has made
// it Ready: applied with kubectl (the last-applied annotation), three field
// managers, a finalizer, a binding, a Claim and two conditions.
func storedSIM(i int) []byte {
	now := metav1.NewTime(time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC))
	spec := v1alpha1.SIMSpec{IMSI: fmt.Sprintf("23875%010d", i),
		SIMSettings: v1alpha1.SIMSettings{Voice: ptr.To(true), SMS: ptr.To(true), Data: ptr.To(true)}}
	applied, _ := json.Marshal(map[string]any{"apiVersion": v1alpha1.GroupVersion.String(), "kind": "SIM",
		"metadata": map[string]any{"name": fmt.Sprintf("sim-%06d", i), "namespace": "fleet"}, "spec": spec})
	fields := func(s string) *metav1.FieldsV1 { return &metav1.FieldsV1{Raw: []byte(s)} }
	s := v1alpha1.SIM{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "SIM"},
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("sim-%06d", i), Namespace: "fleet",
			UID:             "0b5f4c7e-3d1a-4f7e-9a55-2f0c1d2e3f40",
			ResourceVersion: fmt.Sprint(100000 + i), Generation: 1, CreationTimestamp: now,
			Annotations: map[string]string{lastApplied: string(applied) + "\n"},
			Finalizers:  []string{controller.Finalizer},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "kubectl-client-side-apply", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: v1alpha1.GroupVersion.String(),
					Time: &now, FieldsType: "FieldsV1", FieldsV1: fields(`{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}},"f:spec":{".":{},"f:data":{},"f:imsi":{},"f:sms":{},"f:voice":{}}}`)},
				{Manager: "sim-operator", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: v1alpha1.GroupVersion.String(),
					Time: &now, FieldsType: "FieldsV1", FieldsV1: fields(`{"f:metadata":{"f:finalizers":{".":{},"v:\"onomondo.sim-operator.dev/finalizer\"":{}}}}`)},
				{Manager: "sim-operator", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: v1alpha1.GroupVersion.String(),
					Time: &now, FieldsType: "FieldsV1", Subresource: "status", FieldsV1: fields(`{"f:status":{".":{},"f:atProvider":{".":{},"f:data":{},"f:imsi":{},"f:msisdn":{},"f:sms":{},"f:voice":{}},"f:binding":{".":{},"f:imsi":{}},"f:claim":{},"f:conditions":{".":{},"k:{\"type\":\"Ready\"}":{".":{},"f:lastTransitionTime":{},"f:message":{},"f:observedGeneration":{},"f:reason":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Synced\"}":{".":{},"f:lastTransitionTime":{},"f:message":{},"f:observedGeneration":{},"f:reason":{},"f:status":{},"f:type":{}}},"f:observedGeneration":{}}}`)},
			},
		},
		Spec: spec,
		Status: v1alpha1.SIMStatus{
			ManagedStatus: v1alpha1.ManagedStatus{ObservedGeneration: 1, Claim: fmt.Sprintf("sim-23875%010d", i),
				Conditions: []metav1.Condition{
					{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, ObservedGeneration: 1, LastTransitionTime: now, Reason: "Available", Message: "voice on, SMS on, data on, throttling off"},
					{Type: v1alpha1.ConditionSynced, Status: metav1.ConditionTrue, ObservedGeneration: 1, LastTransitionTime: now, Reason: "ReconcileSuccess", Message: "the SIM matches its spec"},
				}},
			Binding: &v1alpha1.SIMBinding{IMSI: spec.IMSI},
			AtProvider: &v1alpha1.SIMObservation{IMSI: spec.IMSI, MSISDN: fmt.Sprintf("4530%06d", i),
				SIMSettings: v1alpha1.SIMSettings{Voice: ptr.To(true), SMS: ptr.To(true), Data: ptr.To(true), DataThrottling: ptr.To(false)}},
		},
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkCachedSIM reports what the informer cache holds per SIM: the
// object decoded as the watch decodes it, after the cache's transform, as
// Go structs (controller-runtime's form, and the fallback) and as the
// operator's informers keep it (internal/compact; each also has a 24-byte
// header there).
func BenchmarkCachedSIM(b *testing.B) {
	const n = 10000
	raw := make([][]byte, n)
	for i := range raw {
		raw[i] = storedSIM(i)
	}
	dec := serializer.NewCodecFactory(Scheme).UniversalDeserializer()
	b.ReportMetric(float64(len(raw[0])), "json-B/SIM")
	codec, err := compact.NewCodec(&v1alpha1.SIM{})
	if err != nil {
		b.Fatal(err)
	}
	for _, form := range []struct {
		name string
		keep func(obj any) (any, error)
	}{
		{"structs", func(obj any) (any, error) { return obj, nil }},
		{"compact", func(obj any) (any, error) {
			s := obj.(*v1alpha1.SIM)
			data, err := codec.Encode(nil, s.Namespace, s.Name, s)
			return string(data), err
		}},
	} {
		b.Run(form.name, func(b *testing.B) {
			kept := make([]any, n)
			var before, after runtime.MemStats
			for b.Loop() {
				clear(kept)
				runtime.GC()
				runtime.ReadMemStats(&before)
				for i := range raw {
					decoded, _, err := dec.Decode(raw[i], nil, &v1alpha1.SIM{})
					if err != nil {
						b.Fatal(err)
					}
					obj, err := stripUnread(decoded)
					if err != nil {
						b.Fatal(err)
					}
					if kept[i], err = form.keep(obj); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
			}
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "cached-B/SIM")
			runtime.KeepAlive(kept)
		})
	}
}

// BenchmarkInitialList compares what a starting manager spends per SIM to
// decode its initial list: as a watch stream (client-go's streaming list,
// one event per object) and as pages of a list.
func BenchmarkInitialList(b *testing.B) {
	const n = 500
	codecs := serializer.NewCodecFactory(Scheme)
	info, _ := k8sruntime.SerializerInfoForMediaType(codecs.SupportedMediaTypes(), k8sruntime.ContentTypeJSON)
	var stream, page bytes.Buffer
	page.WriteString(`{"apiVersion":"onomondo.sim-operator.dev/v1alpha1","kind":"SIMList","metadata":{"resourceVersion":"1"},"items":[`)
	for i := range n {
		sim := storedSIM(i)
		fmt.Fprintf(&stream, `{"type":"ADDED","object":%s}`+"\n", sim)
		if i > 0 {
			page.WriteByte(',')
		}
		page.Write(sim)
	}
	page.WriteString("]}")
	gv := v1alpha1.GroupVersion
	objDecoder := codecs.WithoutConversion().DecoderToVersion(info.Serializer, gv)
	for name, ns := range map[string]k8sruntime.NegotiatedSerializer{
		"watch-stream":           serializer.WithoutConversionCodecFactory{CodecFactory: codecs},
		"watch-stream-watchjson": watchjson.NegotiatedSerializer(Scheme),
	} {
		objects, events, framer, err := k8sruntime.NewClientNegotiator(ns, gv).StreamDecoder(k8sruntime.ContentTypeJSON, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				frames := framer.NewFrameReader(io.NopCloser(bytes.NewReader(stream.Bytes())))
				dec := restwatch.NewDecoder(streaming.NewDecoder(frames, events), objects)
				for range n {
					if _, _, err := dec.Decode(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/SIM")
		})
	}
	b.Run("list-page", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := objDecoder.Decode(page.Bytes(), nil, &v1alpha1.SIMList{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/SIM")
	})
}
