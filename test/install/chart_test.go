package install_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"

	"github.com/sim-operator/sim-operator/internal/app"
)

const chartDir = "../../dist/chart"

func init() { utilruntime.Must(apiextensionsv1.AddToScheme(app.Scheme)) }

// The two variants the tests render: the defaults, and a namespaced install
// with monitoring, a created key Secret and an extra CA.
var (
	defaults = map[string]any{}
	teamOps  = map[string]any{
		"watchNamespaces": []any{"team-a", "team-b"},
		"apiKey":          map[string]any{"create": true, "value": "test-key"},
		"api":             map[string]any{"caBundle": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"},
		"metrics": map[string]any{
			"serviceMonitor": map[string]any{"enabled": true},
			"prometheusRule": map[string]any{"enabled": true},
			"dashboard":      map[string]any{"enabled": true},
		},
	}
)

// renderChart renders the chart with Helm's engine, as `helm install` does
// on a cluster that serves MutatingAdmissionPolicy v1 (Kubernetes 1.36+).
func renderChart(t *testing.T, release, namespace string, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	caps := chartutil.DefaultCapabilities.Copy()
	caps.APIVersions = append(caps.APIVersions, "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy")
	return renderChartOn(t, caps, release, namespace, values)
}

// renderChartOn renders the chart for a cluster with caps, as `helm template` does.
func renderChartOn(t *testing.T, caps *chartutil.Capabilities, release, namespace string, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := chartutil.ToRenderValues(chrt, values, chartutil.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true}, caps)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(chrt, vals)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []*unstructured.Unstructured
	for _, name := range names {
		if strings.HasSuffix(name, ".yaml") {
			out = append(out, decode(t, []byte(files[name]))...)
		}
	}
	return out
}

func TestChartLints(t *testing.T) {
	for name, values := range map[string]map[string]any{"defaults": defaults, "namespaced and monitored": teamOps} {
		linter := lint.All(chartDir, values, "sim-operator", false)
		for _, m := range linter.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("%s: %s", name, m)
			}
		}
	}
}

// Both variants apply, every object of them, to a real apiserver, are
// restricted, and are least privilege.
func TestChartAppliesRestrictedAndLeastPrivilege(t *testing.T) {
	c := startAPIServer(t)
	installMonitoringCRDs(t, c)
	for _, tc := range []struct {
		release, ns string
		values      map[string]any
	}{{"sim-operator", "sim-operator", defaults}, {"team-ops", "team-ops", teamOps}} {
		objs := renderChart(t, tc.release, tc.ns, tc.values)
		ns := &unstructured.Unstructured{}
		ns.SetAPIVersion("v1")
		ns.SetKind("Namespace")
		ns.SetName(tc.ns)
		apply := slices.Clone(objs)
		for _, watched := range toStrings(tc.values["watchNamespaces"]) {
			n := ns.DeepCopy()
			n.SetName(watched)
			apply = append(apply, n)
		}
		kinds := applyAll(t, c, append(apply, ns))
		for _, k := range []string{"CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"} {
			if kinds[k] == 0 {
				t.Errorf("%s: no %s", tc.release, k)
			}
		}
		if tc.release == "team-ops" && (kinds["ServiceMonitor"] != 1 || kinds["PrometheusRule"] != 1) {
			t.Errorf("team-ops: applied %v, want its ServiceMonitor and PrometheusRule too", kinds)
		}
		checkRestricted(t, objs)
		checkRBAC(t, objs, tc.ns)
		checkAggregated(t, objs)
	}
}

// installMonitoringCRDs installs stand-ins for the Prometheus Operator's
// ServiceMonitor and PrometheusRule CRDs (open schemas: the chart's objects
// are checked against the kinds, not the operator's full schema).
func installMonitoringCRDs(t *testing.T, c client.Client) {
	t.Helper()
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
		plural := strings.ToLower(kind) + "s"
		crd := &apiextensionsv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: plural + ".monitoring.coreos.com"},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: "monitoring.coreos.com", Scope: apiextensionsv1.NamespaceScoped,
				Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: kind, ListKind: kind + "List", Plural: plural, Singular: strings.ToLower(kind)},
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true, Storage: true,
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
						Type: "object", XPreserveUnknownFields: ptr.To(true)}}}},
			},
		}
		if err := c.Create(context.Background(), crd); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			_ = c.Get(context.Background(), client.ObjectKeyFromObject(crd), crd)
			if slices.ContainsFunc(crd.Status.Conditions, func(c apiextensionsv1.CustomResourceDefinitionCondition) bool {
				return c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue
			}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never became established", crd.Name)
			}
		}
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		out = append(out, e.(string))
	}
	return out
}

// Listed namespaces get a Role each and no ClusterRole reaches SIMs; the
// monitoring objects carry exactly the shipped alerts and dashboard.
func TestChartNamespacedAndMonitored(t *testing.T) {
	objs := renderChart(t, "team-ops", "team-ops", teamOps)
	var roles []string
	for _, obj := range objs {
		switch obj.GetKind() {
		case "Role":
			if slices.ContainsFunc(typed[rbacv1.Role](t, obj).Rules, grantsSIMs) {
				roles = append(roles, obj.GetNamespace())
			}
		case "ClusterRole":
			if !strings.Contains(obj.GetName(), "-viewer") && !strings.Contains(obj.GetName(), "-editor") &&
				!strings.Contains(obj.GetName(), "-admin") && slices.ContainsFunc(typed[rbacv1.ClusterRole](t, obj).Rules, grantsSIMs) {
				t.Errorf("ClusterRole %s reaches SIMs in every namespace", obj.GetName())
			}
		}
	}
	if !slices.Equal(roles, []string{"team-a", "team-b"}) {
		t.Errorf("manager Roles in %v, want team-a and team-b", roles)
	}
	// What a Role cannot grant, and the manager's informers need cluster-wide.
	var clusterScoped []string
	for _, obj := range objs {
		if obj.GetKind() == "ClusterRole" {
			for _, r := range typed[rbacv1.ClusterRole](t, obj).Rules {
				clusterScoped = append(clusterScoped, r.Resources...)
			}
		}
	}
	for _, want := range []string{"clusteraccounts", "namespaces"} {
		if !slices.Contains(clusterScoped, want) {
			t.Errorf("no ClusterRole lets the namespaced manager read %s", want)
		}
	}
	args := strings.Join(deploymentArgs(t, objs), " ")
	for _, want := range []string{"--watch-namespaces=team-a,team-b", "--api-ca-file=/etc/onomondo/ca/ca.pem", "--api-key-secret=onomondo-api-key"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	alerts, err := os.ReadFile("../../config/monitoring/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var wantRules map[string]any
	if err := yaml.Unmarshal(alerts, &wantRules); err != nil {
		t.Fatal(err)
	}
	dashboard, err := os.ReadFile("../../config/monitoring/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, obj := range objs {
		switch {
		case obj.GetKind() == "PrometheusRule":
			found["PrometheusRule"] = true
			spec, _, _ := unstructured.NestedMap(obj.Object, "spec")
			if !equalYAML(t, spec, wantRules) {
				t.Error("the PrometheusRule is not config/monitoring/alerts.yaml")
			}
		case obj.GetKind() == "ServiceMonitor":
			found["ServiceMonitor"] = true
		case obj.GetKind() == "ConfigMap" && obj.GetLabels()["grafana_dashboard"] == "1":
			found["dashboard"] = true
			cm := typed[corev1.ConfigMap](t, obj)
			if cm.Data["sim-operator.json"] != string(dashboard) {
				t.Error("the dashboard ConfigMap is not config/monitoring/dashboard.json")
			}
		case obj.GetKind() == "Secret":
			found["Secret"] = true
		}
	}
	for _, k := range []string{"PrometheusRule", "ServiceMonitor", "dashboard", "Secret"} {
		if !found[k] {
			t.Errorf("no %s rendered", k)
		}
	}
}

// Monitoring works on first install: the ServiceMonitor sends a token that
// the metrics-reader ClusterRole authorises, by the current authorization
// fields; it verifies TLS when given a CA; every alert links an absolute
// runbook built from the chart value.
func TestMonitoringWorksOnFirstInstall(t *testing.T) {
	values := map[string]any{"metrics": map[string]any{
		"serviceMonitor": map[string]any{"enabled": true, "tlsCA": map[string]any{"secretName": "metrics-ca", "key": "ca.crt"}},
		"prometheusRule": map[string]any{"enabled": true, "runbookBaseURL": "https://runbooks.example.com/sim-operator"},
		"readers":        []any{map[string]any{"name": "prometheus-k8s", "namespace": "monitoring"}},
	}}
	objs := renderChart(t, "mon", "ops", values)
	var scraperToken, sentToken string
	subjects := map[string]bool{}
	for _, obj := range objs {
		switch obj.GetKind() {
		case "Secret":
			if obj.GetAnnotations()["kubernetes.io/service-account.name"] == "mon-sim-operator-metrics-scraper" {
				scraperToken = obj.GetName()
			}
		case "ClusterRoleBinding":
			b := typed[rbacv1.ClusterRoleBinding](t, obj)
			if strings.HasSuffix(b.RoleRef.Name, "-metrics-reader") {
				for _, s := range b.Subjects {
					subjects[s.Namespace+"/"+s.Name] = true
				}
			}
		case "ServiceMonitor":
			ep, _, _ := unstructured.NestedSlice(obj.Object, "spec", "endpoints")
			e := ep[0].(map[string]any)
			if _, old := e["bearerTokenFile"]; old {
				t.Error("the ServiceMonitor uses the deprecated bearerTokenFile")
			}
			if name, _, _ := unstructured.NestedString(e, "authorization", "credentials", "name"); name == "" {
				t.Errorf("the ServiceMonitor sends no token: %v", e)
			} else {
				sentToken = name
			}
			tls, _, _ := unstructured.NestedMap(e, "tlsConfig")
			if tls["insecureSkipVerify"] == true || tls["serverName"] != "mon-sim-operator-metrics.ops.svc" {
				t.Errorf("with a CA given, TLS is not verified: %v", tls)
			}
		case "PrometheusRule":
			groups, _, _ := unstructured.NestedSlice(obj.Object, "spec", "groups")
			for _, g := range groups {
				for _, r := range g.(map[string]any)["rules"].([]any) {
					rule := r.(map[string]any)
					url, _, _ := unstructured.NestedString(rule, "annotations", "runbook_url")
					if !strings.HasPrefix(url, "https://runbooks.example.com/sim-operator#") {
						t.Errorf("alert %v: runbook_url %q, want an absolute URL from runbookBaseURL", rule["alert"], url)
					}
				}
			}
		}
	}
	if scraperToken == "" || sentToken != scraperToken {
		t.Errorf("the ServiceMonitor sends the token of Secret %q, want the scraper's token Secret %q", sentToken, scraperToken)
	}
	if !subjects["ops/mon-sim-operator-metrics-scraper"] || !subjects["monitoring/prometheus-k8s"] {
		t.Errorf("metrics-reader is bound to %v, want the scraper and the named reader", subjects)
	}
}

// Wrong values are refused by values.schema.json before anything renders,
// naming the value; replicas > 1 without leader election fails.
func TestWrongValuesAreRefused(t *testing.T) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		values map[string]any
		want   string
	}{
		"a typo":                    {map[string]any{"replica": 2}, "replica"},
		"a rate as text":            {map[string]any{"api": map[string]any{"rate": "ten"}}, "rate"},
		"a duration without unit":   {map[string]any{"sync": map[string]any{"period": "10"}}, "period"},
		"an unknown log level":      {map[string]any{"logging": map[string]any{"level": "verbose"}}, "level"},
		"a digest that is not one":  {map[string]any{"image": map[string]any{"digest": "latest"}}, "digest"},
		"a namespace with capitals": {map[string]any{"watchNamespaces": []any{"Team-A"}}, "watchNamespaces"},
		"a reader without a name":   {map[string]any{"metrics": map[string]any{"readers": []any{map[string]any{"namespace": "monitoring"}}}}, "name"},
	} {
		_, err := chartutil.ToRenderValues(chrt, tc.values, chartutil.ReleaseOptions{Name: "x", Namespace: "x", IsInstall: true}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %s", name, err, tc.want)
		}
	}
	vals, err := chartutil.ToRenderValues(chrt, map[string]any{"replicas": 2, "leaderElection": map[string]any{"enabled": false}},
		chartutil.ReleaseOptions{Name: "x", Namespace: "x", IsInstall: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Render(chrt, vals); err == nil || !strings.Contains(err.Error(), "leaderElection.enabled") {
		t.Errorf("replicas 2 without leader election: %v", err)
	}
}

// The image can be pinned by digest, names overridden, the environment and
// volumes extended, and a PDB added.
func TestChartOptions(t *testing.T) {
	objs := renderChart(t, "r", "ops", map[string]any{
		"fullnameOverride":    "simop",
		"image":               map[string]any{"digest": "sha256:" + strings.Repeat("a", 64)},
		"extraEnv":            []any{map[string]any{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}},
		"extraVolumes":        []any{map[string]any{"name": "proxy-ca", "configMap": map[string]any{"name": "proxy-ca"}}},
		"extraVolumeMounts":   []any{map[string]any{"name": "proxy-ca", "mountPath": "/etc/proxy"}},
		"replicas":            2,
		"podDisruptionBudget": map[string]any{"enabled": true},
	})
	var pdb bool
	for _, obj := range objs {
		switch obj.GetKind() {
		case "Deployment":
			if obj.GetName() != "simop" {
				t.Errorf("deployment %s, want the fullnameOverride", obj.GetName())
			}
			c, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
			m := c[0].(map[string]any)
			if m["image"] != "ghcr.io/sim-operator/sim-operator@sha256:"+strings.Repeat("a", 64) {
				t.Errorf("image %v, want pinned by digest", m["image"])
			}
			env, _ := yaml.Marshal(m["env"])
			mounts, _ := yaml.Marshal(m["volumeMounts"])
			if !strings.Contains(string(env), "HTTPS_PROXY") || !strings.Contains(string(mounts), "/etc/proxy") {
				t.Errorf("env %s / mounts %s lack the extras", env, mounts)
			}
		case "PodDisruptionBudget":
			pdb = true
		}
	}
	if !pdb {
		t.Error("no PodDisruptionBudget")
	}
}

// The chart's README lists every value of values.yaml.
func TestChartREADMEListsEveryValue(t *testing.T) {
	data, err := os.ReadFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(chartDir + "/README.md")
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	free := []string{"labels", "annotations", "podAnnotations", "podLabels", "nodeSelector", "affinity", "resources",
		"podSecurityContext", "securityContext"}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			path := prefix + k
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 && !slices.Contains(free, k) {
				walk(path+".", sub)
				continue
			}
			if !strings.Contains(string(readme), "`"+path+"`") {
				t.Errorf("dist/chart/README.md does not list %s", path)
			}
		}
	}
	walk("", values)
}

// sharding.shards deploys one manager per shard and a default one for the
// unlabelled objects, each with its own selector and pods.
func TestChartDeploysShards(t *testing.T) {
	objs := renderChart(t, "fleet", "ops", map[string]any{"sharding": map[string]any{"shards": []any{"shard1", "shard2"}}})
	selectors := map[string]string{}
	pods := map[string]bool{}
	for _, obj := range objs {
		if obj.GetKind() != "Deployment" {
			continue
		}
		args := strings.Join(deploymentArgs(t, []*unstructured.Unstructured{obj}), " ")
		_, sel, _ := strings.Cut(args, "--watch-label-selector=")
		sel, _, _ = strings.Cut(sel, " --")
		selectors[obj.GetName()] = strings.TrimSpace(sel)
		if strings.Contains(args, "--leader-election-id") {
			t.Errorf("%s: a shard shares a Lease name", obj.GetName())
		}
		labels, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "selector", "matchLabels")
		pods[labels["sharding.sim-operator.dev/shard"]] = true
	}
	want := map[string]string{
		"fleet-sim-operator":        "!sharding.sim-operator.dev/key",
		"fleet-sim-operator-shard1": "sharding.sim-operator.dev/key in (shard1)",
		"fleet-sim-operator-shard2": "sharding.sim-operator.dev/key in (shard2)",
	}
	for name, sel := range want {
		if selectors[name] != sel {
			t.Errorf("%s: selector %q, want %q (all: %v)", name, selectors[name], sel, selectors)
		}
	}
	if len(selectors) != 3 || len(pods) != 3 {
		t.Errorf("deployments %v, pod selectors %v: want three of each", selectors, pods)
	}
}

func grantsSIMs(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "sims") }

func equalYAML(t *testing.T, a, b any) bool {
	t.Helper()
	ya, err := yaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	yb, err := yaml.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ya, yb)
}

func deploymentArgs(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	return checkRestricted(t, objs).Spec.Template.Spec.Containers[0].Args
}

// chartValueOf sets each manager flag through the chart's values: the
// value path and a non-default value. A flag missing here fails the test.
var chartValueOf = map[string]struct {
	path  string
	value any
	want  string
}{
	"api-url":                            {"api.url", "https://api.example.com", "https://api.example.com"},
	"api-ca-file":                        {"api.caBundle", "pem", "/etc/onomondo/ca/ca.pem"},
	"api-insecure-http":                  {"api.insecureHTTP", true, "true"},
	"api-key-secret":                     {"apiKey.secretName", "my-key", "my-key"},
	"api-timeout":                        {"api.timeout", "7s", "7s"},
	"api-rate":                           {"api.rate", 3.5, "3.5"},
	"api-burst":                          {"api.burst", 4, "4"},
	"watch-label-selector":               {"watchLabelSelector", "shard in (a)", "shard in (a)"},
	"leader-election-id":                 {"leaderElection.id", "my-lease", "my-lease"},
	"redact-identifiers":                 {"logging.redactIdentifiers", true, "true"},
	"apply-early":                        {"applyEarly", false, "false"},
	"api-edition":                        {"api.edition", "Current", "Current"},
	"api-auth-scheme":                    {"api.authScheme", "Bearer", "Bearer"},
	"api-max-retry-after":                {"api.maxRetryAfter", "2m", "2m"},
	"sync-period":                        {"sync.period", "30m", "30m"},
	"sync-jitter":                        {"sync.jitter", 0.25, "0.25"},
	"max-concurrent-reconciles":          {"maxConcurrentReconciles", 16, "16"},
	"min-backoff":                        {"backoff.min", "2s", "2s"},
	"max-backoff":                        {"backoff.max", "10m", "10m"},
	"kube-api-qps":                       {"kubeAPI.qps", 75, "75"},
	"kube-api-burst":                     {"kubeAPI.burst", 150, "150"},
	"event-qps":                          {"events.qps", 5, "5"},
	"event-burst":                        {"events.burst", 50, "50"},
	"event-queue-size":                   {"events.queueSize", 1000, "1000"},
	"sms-record-retention":               {"smsRecordRetention", "48h", "48h"},
	"default-account":                    {"accounts.defaultAccount", false, "false"},
	"default-account-namespace-selector": {"accounts.defaultAccountNamespaceSelector", "team in (a)", "team in (a)"},
	"account-key-refresh":                {"accounts.keyRefresh", "1m", "1m"},
	"watch-namespaces":                   {"watchNamespaces", []any{"a", "b"}, "a,b"},
	"metrics-bind-address":               {"metrics.port", 9443, ":9443"},
	"metrics-secure":                     {"metrics.secure", false, "false"},
	"health-probe-bind-address":          {"health.port", 9081, ":9081"},
	"leader-elect":                       {"leaderElection.enabled", false, "false"},
	"leader-election-namespace":          {"leaderElection.namespace", "ops", "ops"},
	"leader-elect-lease-duration":        {"leaderElection.leaseDuration", "30s", "30s"},
	"leader-elect-renew-deadline":        {"leaderElection.renewDeadline", "20s", "20s"},
	"leader-elect-retry-period":          {"leaderElection.retryPeriod", "3s", "3s"},
	"enable-http2":                       {"metrics.enableHTTP2", true, "true"},
	"pprof-bind-address":                 {"pprof.address", ":6060", ":6060"},
	"zap-log-level":                      {"logging.level", "debug", "debug"},
	"zap-devel":                          {"logging.development", true, "true"},
}

// Every flag of the manager has a value in the chart, and setting it
// reaches the manager's arguments.
func TestChartHasAValueForEveryManagerFlag(t *testing.T) {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	o := app.DefaultOptions()
	o.BindFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := chartValueOf[f.Name]; !ok {
			t.Errorf("the manager's --%s has no chart value", f.Name)
		}
	})
	values := map[string]any{}
	for _, v := range chartValueOf {
		set(values, v.path, v.value)
	}
	args := deploymentArgs(t, renderChart(t, "sim-operator", "sim-operator", values))
	for name, v := range chartValueOf {
		if !slices.Contains(args, "--"+name+"="+v.want) {
			t.Errorf("%s=%v: args %q lack --%s=%s", v.path, v.value, args, name, v.want)
		}
	}
}

// set sets a dotted path in nested maps.
func set(m map[string]any, path string, v any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// The chart's CRDs are the kustomize ones, kept on uninstall by default.
func TestChartCRDsAreTheGeneratedOnes(t *testing.T) {
	var crds []*unstructured.Unstructured
	for _, obj := range renderChart(t, "sim-operator", "sim-operator", defaults) {
		if obj.GetKind() == "CustomResourceDefinition" {
			crds = append(crds, obj)
		}
	}
	var bundle []*unstructured.Unstructured
	for _, obj := range readBundle(t) {
		if obj.GetKind() == "CustomResourceDefinition" {
			bundle = append(bundle, obj)
		}
	}
	if len(crds) != len(bundle) || len(crds) == 0 {
		t.Fatalf("chart has %d CRDs, the bundle %d", len(crds), len(bundle))
	}
	for i := range crds {
		if crds[i].GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("%s is not kept on uninstall", crds[i].GetName())
		}
		if !equalYAML(t, crds[i].Object["spec"], bundle[i].Object["spec"]) {
			t.Errorf("%s differs from dist/install.yaml's", crds[i].GetName())
		}
	}
	off := renderChart(t, "sim-operator", "sim-operator", map[string]any{"crds": map[string]any{"enabled": false}})
	if slices.ContainsFunc(off, func(o *unstructured.Unstructured) bool { return o.GetKind() == "CustomResourceDefinition" }) {
		t.Error("crds.enabled=false still renders CRDs")
	}
}

// admissionPolicy installs config/admission's finalizer policy, bound to the
// release's watchNamespaces when set, and nothing where the release does
// not serve every object (a bare watchLabelSelector), where the cluster does
// not serve the policy's kind, or when turned off.
func TestChartInstallsTheFinalizerPolicy(t *testing.T) {
	source, err := os.ReadFile("../../config/admission/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(source, &want); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		values     map[string]any
		namespaces []string // nil: bound everywhere
		none       bool
	}{
		{name: "defaults", values: defaults},
		{name: "watchNamespaces", values: teamOps, namespaces: []string{"team-a", "team-b"}},
		{name: "shards", values: map[string]any{"sharding": map[string]any{"shards": []any{"s1"}}}},
		{name: "a bare watchLabelSelector", values: map[string]any{"watchLabelSelector": "fleet=a"}, none: true},
		{name: "turned off", values: map[string]any{"admissionPolicy": map[string]any{"enabled": false}}, none: true},
		{name: "a cluster before 1.36", values: defaults, none: true},
	} {
		objs := renderChart(t, "fleet", "ops", tc.values)
		if tc.name == "a cluster before 1.36" {
			objs = renderChartOn(t, chartutil.DefaultCapabilities, "fleet", "ops", tc.values)
		}
		var policy, binding *unstructured.Unstructured
		for _, o := range objs {
			switch o.GetKind() {
			case "MutatingAdmissionPolicy":
				policy = o
			case "MutatingAdmissionPolicyBinding":
				binding = o
			}
		}
		if tc.none {
			if policy != nil || binding != nil {
				t.Errorf("%s: rendered %v and %v, want no policy", tc.name, policy, binding)
			}
			continue
		}
		if policy == nil || binding == nil {
			t.Fatalf("%s: policy %v, binding %v; want both", tc.name, policy, binding)
		}
		if !equalYAML(t, policy.Object["spec"], want["spec"]) {
			t.Errorf("%s: the chart's policy is not config/admission's", tc.name)
		}
		name := "fleet-sim-operator-managed-finalizer"
		if policyName, _, _ := unstructured.NestedString(binding.Object, "spec", "policyName"); policy.GetName() != name || binding.GetName() != name || policyName != name {
			t.Errorf("%s: policy %s, binding %s of %s; want all %s", tc.name, policy.GetName(), binding.GetName(), policyName, name)
		}
		exprs, _, _ := unstructured.NestedSlice(binding.Object, "spec", "matchResources", "namespaceSelector", "matchExpressions")
		var got []string
		if len(exprs) == 1 {
			got = toStrings(exprs[0].(map[string]any)["values"])
		}
		if !slices.Equal(got, tc.namespaces) || len(exprs) > 1 {
			t.Errorf("%s: bound to %v, want %v", tc.name, exprs, tc.namespaces)
		}
	}
}
