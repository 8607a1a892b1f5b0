// Package admission installs the operator's admission policy from its
// manifests under config/admission: the MutatingAdmissionPolicy that sets
// the operator's finalizer as a managed resource is created, and its
// binding. install.yaml and the chart carry the same manifests; this
// package serves the control planes that start from the CRDs alone (the
// sandbox, the benchmark and the tests).
package admission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// Dir holds the manifests, relative to the repository root.
var Dir = filepath.Join("config", "admission")

// Install creates (or updates) the policy and its binding from dir, the
// binding limited to namespaces when any are given (as the chart limits it
// to its watchNamespaces), and waits until the apiserver applies the
// policy: it takes effect a moment after it is written, and a SIM created
// before then would get no finalizer from it.
func Install(ctx context.Context, c client.Client, dir string, namespaces ...string) error {
	policy, err := read(filepath.Join(dir, "policy.yaml"))
	if err != nil {
		return err
	}
	binding, err := read(filepath.Join(dir, "binding.yaml"))
	if err != nil {
		return err
	}
	if len(namespaces) > 0 {
		selector, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: namespaces}}})
		if err != nil {
			return err
		}
		if err := unstructured.SetNestedMap(binding.Object, selector, "spec", "matchResources", "namespaceSelector"); err != nil {
			return err
		}
	}
	for _, o := range []*unstructured.Unstructured{policy, binding} {
		if err := c.Patch(ctx, o, client.Apply, client.FieldOwner("sim-operator-admission"), client.ForceOwnership); err != nil { //nolint:staticcheck // objects read from YAML, no apply configurations
			return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	probe := "default"
	if len(namespaces) > 0 {
		probe = namespaces[0]
	}
	return WaitFinalizerSet(ctx, c, probe, time.Minute)
}

// WaitFinalizerSet waits until a SIM created in namespace would be given the
// operator's finalizer by admission. It asks with dry-run creates, which
// write nothing.
func WaitFinalizerSet(ctx context.Context, c client.Client, namespace string, timeout time.Duration) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		probe := &v1alpha1.SIM{ObjectMeta: metav1.ObjectMeta{GenerateName: "admission-probe-", Namespace: namespace},
			Spec: v1alpha1.SIMSpec{IMSI: "001010000000000"}}
		// Just after the CRDs, the policy's plugin may not know SIMs yet
		// and answer 503: asked again until the timeout.
		last = c.Create(ctx, probe, client.DryRunAll)
		return last == nil && len(probe.Finalizers) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("the finalizer policy did not take effect in namespace %s: %w", namespace, errors.Join(err, last))
	}
	return nil
}

// read decodes the one object of a YAML manifest.
func read(path string) (*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	o := &unstructured.Unstructured{}
	d := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	if err := d.Decode(&o.Object); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(o.Object) == 0 {
		return nil, fmt.Errorf("%s: no object", path)
	}
	return o, nil
}
