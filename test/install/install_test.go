// Package install_test proves dist/install.yaml is a valid, least-privilege,
// restricted-PSS bundle by applying every object to a real apiserver.
package install_test

import (
	"context"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/manifests"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

const operatorNS = "sim-operator-system"

func readBundle(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile("../../dist/install.yaml")
	if err != nil {
		t.Fatalf("dist/install.yaml: %v (run make build-installer)", err)
	}
	return decode(t, data)
}

// decode splits a multi-document YAML stream into objects.
func decode(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := manifests.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

// Every object of the bundle is accepted by a real apiserver, as
// `kubectl apply --server-side -f dist/install.yaml` would send it.
func TestBundleAppliesToAnAPIServer(t *testing.T) {
	kinds := applyAll(t, startAPIServer(t), readBundle(t))
	for _, k := range []string{"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service"} {
		if kinds[k] == 0 {
			t.Errorf("the bundle has no %s", k)
		}
	}
}

// startAPIServer starts envtest's apiserver for the test, or skips it.
func startAPIServer(t *testing.T) client.Client {
	t.Helper()
	_, cfg := testutil.StartControlPlane(t, "")
	c, err := client.New(cfg, client.Options{Scheme: app.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// applyAll applies the objects server-side, namespaces first (as kubectl
// orders them), and counts them by kind.
func applyAll(t *testing.T, c client.Client, objs []*unstructured.Unstructured) map[string]int {
	t.Helper()
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return boolInt(b.GetKind() == "Namespace") - boolInt(a.GetKind() == "Namespace")
	})
	kinds := map[string]int{}
	for _, obj := range objs {
		kinds[obj.GetKind()]++
		if err := c.Patch(context.Background(), obj, client.Apply, client.FieldOwner("install-test"), client.ForceOwnership); err != nil { //nolint:staticcheck
			t.Errorf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
	return kinds
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The Deployment meets the restricted Pod Security Standard and runs with
// resources, probes and leader election.
func TestDeploymentIsRestricted(t *testing.T) {
	d := checkRestricted(t, readBundle(t))
	args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
	for _, want := range []string{"--leader-elect", "--api-key-secret=onomondo-api-key", "--metrics-bind-address=:8443"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
}

// checkRestricted checks the one Deployment against the restricted Pod
// Security Standard, resources, probes, the POD_NAMESPACE the key
// Secret's namespace comes from and the memory limit the Go runtime's
// soft limit comes from, and returns it.
func checkRestricted(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	for _, obj := range objs {
		if obj.GetKind() == "Deployment" {
			d = typed[appsv1.Deployment](t, obj)
		}
	}
	if d == nil {
		t.Fatal("no Deployment in the bundle")
	}
	pod := d.Spec.Template.Spec
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("pod: runAsNonRoot is not true")
	}
	if pod.SecurityContext == nil || pod.SecurityContext.SeccompProfile == nil ||
		pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod: seccompProfile is not RuntimeDefault")
	}
	for _, ctr := range pod.Containers {
		sc := ctr.SecurityContext
		switch {
		case sc == nil:
			t.Fatalf("container %s has no securityContext", ctr.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: readOnlyRootFilesystem is not true", ctr.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: allowPrivilegeEscalation is not false", ctr.Name)
		case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s: capabilities do not drop ALL", ctr.Name)
		}
		if ctr.Resources.Requests.Memory().IsZero() || ctr.Resources.Limits.Memory().IsZero() ||
			ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Limits.Cpu().IsZero() {
			t.Errorf("%s: resource requests and limits are not all set", ctr.Name)
		}
		if ctr.LivenessProbe == nil || ctr.ReadinessProbe == nil {
			t.Errorf("%s: liveness and readiness probes are not both set", ctr.Name)
		}
		if !slices.ContainsFunc(ctr.Env, func(e corev1.EnvVar) bool {
			return e.Name == app.PodNamespaceEnv && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
				e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
		}) {
			t.Errorf("%s: %s does not come from the downward API", ctr.Name, app.PodNamespaceEnv)
		}
		if !slices.ContainsFunc(ctr.Env, func(e corev1.EnvVar) bool {
			return e.Name == app.MemoryLimitEnv && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil &&
				e.ValueFrom.ResourceFieldRef.Resource == "limits.memory" && e.ValueFrom.ResourceFieldRef.ContainerName == ctr.Name
		}) {
			t.Errorf("%s: %s (the Go soft memory limit's source) does not come from the container's memory limit", ctr.Name, app.MemoryLimitEnv)
		}
	}
	return d
}

// RBAC is least privilege: no wildcards; Secrets only through a Role in the
// operator's namespace; events create/patch; leases for leader election.
func TestRBACIsLeastPrivilege(t *testing.T) {
	checkRBAC(t, readBundle(t), operatorNS)
	checkAggregated(t, readBundle(t))
}

// checkAggregated: the viewer, editor and admin roles of each kind reach the
// built-in view, edit and admin roles through their aggregation labels.
func checkAggregated(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	found := map[string]int{}
	for _, obj := range objs {
		for role, builtin := range map[string]string{"viewer": "view", "editor": "edit", "admin": "admin"} {
			if obj.GetKind() != "ClusterRole" || !strings.Contains(obj.GetName(), "-"+role) {
				continue
			}
			aggregated := obj.GetLabels()["rbac.authorization.k8s.io/aggregate-to-"+builtin] == "true"
			if strings.Contains(obj.GetName(), "clusteraccount-") {
				if aggregated || len(obj.GetLabels()) == 0 {
					t.Errorf("ClusterRole %s aggregates into the namespace role %s: a ClusterAccount reaches other namespaces", obj.GetName(), builtin)
				}
				found["cluster-"+role]++
				continue
			}
			found[role]++
			if !aggregated {
				t.Errorf("ClusterRole %s does not aggregate to %s", obj.GetName(), builtin)
			}
		}
	}
	for _, role := range []string{"viewer", "editor", "admin"} {
		if found["cluster-"+role] != 1 {
			t.Errorf("%d ClusterAccount %s roles, want one", found["cluster-"+role], role)
		}
	}
	// What tenants must not reach: the SMS ledger (a namespace editor would
	// delete a record to have a message sent again) and claims of accounts.
	for _, obj := range objs {
		if obj.GetKind() != "ClusterRole" || !strings.Contains(strings.Join(slices.Collect(maps.Keys(obj.GetLabels())), ","), "aggregate-to-") {
			continue
		}
		for _, r := range typed[rbacv1.ClusterRole](t, obj).Rules {
			if slices.ContainsFunc(r.Resources, func(res string) bool {
				return slices.Contains([]string{"smsrecords", "claims", "configmaps", "secrets"}, res)
			}) {
				t.Errorf("aggregated ClusterRole %s grants %v to namespace roles", obj.GetName(), r.Resources)
			}
		}
	}
	for _, role := range []string{"viewer", "editor", "admin"} {
		if found[role] != 6 {
			t.Errorf("%d %s roles, want one for each of SIM, SMSMessage, Connector, Account, NetworkList, Webhook", found[role], role)
		}
	}
}

// checkRBAC checks the roles of an install in namespace ns.
func checkRBAC(t *testing.T, objs []*unstructured.Unstructured, ns string) {
	t.Helper()
	var events, leases, secrets bool
	bound := map[string]bool{} // ClusterRoles some ClusterRoleBinding grants cluster-wide
	for _, obj := range objs {
		if obj.GetKind() == "ClusterRoleBinding" {
			bound[typed[rbacv1.ClusterRoleBinding](t, obj).RoleRef.Name] = true
		}
	}
	for _, obj := range objs {
		var rules []rbacv1.PolicyRule
		switch obj.GetKind() {
		case "ClusterRole":
			rules = typed[rbacv1.ClusterRole](t, obj).Rules
		case "Role":
			rules = typed[rbacv1.Role](t, obj).Rules
		default:
			continue
		}
		for _, r := range rules {
			all := slices.Concat(r.APIGroups, r.Resources, r.Verbs, r.ResourceNames)
			if slices.Contains(all, "*") {
				t.Errorf("%s %s has a wildcard rule %+v", obj.GetKind(), obj.GetName(), r)
			}
			if slices.Contains(r.Resources, "secrets") {
				// The account keys are granted per Secret (a Role with resourceNames, docs/operations.md).
				if obj.GetKind() != "Role" || obj.GetNamespace() != ns {
					t.Errorf("%s %s/%s grants secrets; only a Role in %s may", obj.GetKind(), obj.GetNamespace(), obj.GetName(), ns)
				}
				if slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" }) {
					t.Errorf("secrets verbs %v go beyond reading", r.Verbs)
				}
				secrets = true
			}
			if slices.Contains(r.Resources, "configmaps") && (!strings.Contains(obj.GetName(), "sms-ledger-migration") ||
				slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "list" && v != "delete" })) {
				t.Errorf("%s %s grants configmaps %v: only the SMS ledger's migration role may, to list and delete", obj.GetKind(), obj.GetName(), r.Verbs)
			}
			if slices.Contains(r.Resources, "events") && slices.Contains(r.Verbs, "create") && slices.Contains(r.Verbs, "patch") {
				events = true
			}
			if slices.Contains(r.Resources, "leases") {
				leases = true
			}
		}
	}
	if !events || !leases || !secrets {
		t.Errorf("missing grants: events=%v leases=%v secrets=%v", events, leases, secrets)
	}
}

// kubectl get shows whether each managed resource is synced, and every kind
// people type has a short name.
func TestPrinterColumnsAndShortNames(t *testing.T) {
	crds := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, obj := range readBundle(t) {
		if obj.GetKind() == "CustomResourceDefinition" {
			crd := typed[apiextensionsv1.CustomResourceDefinition](t, obj)
			crds[crd.Spec.Names.Kind] = crd
		}
	}
	for _, kind := range []string{"SIM", "Connector"} {
		var cols []string
		for _, c := range crds[kind].Spec.Versions[0].AdditionalPrinterColumns {
			cols = append(cols, c.Name)
		}
		if !slices.Contains(cols, "Synced") || !slices.Contains(cols, "Ready") {
			t.Errorf("%s columns %v: want Synced and Ready", kind, cols)
		}
	}
	for kind, want := range map[string]string{"SIM": "sim", "Connector": "conn", "SMSMessage": "sms", "Account": "acct", "ClusterAccount": "cacct"} {
		if crd := crds[kind]; crd == nil || !slices.Contains(crd.Spec.Names.ShortNames, want) {
			t.Errorf("%s: want the short name %s", kind, want)
		}
	}
}
