// Package monitoring_test proves the shipped alerts and dashboard: every
// PromQL expression parses with Prometheus' own parser and names only
// metrics a running manager exports, and the alerts pass their unit tests
// (promtool's format, run on Prometheus' rule engine).
package monitoring_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"sigs.k8s.io/yaml"
)

const monitoringDir = "../../config/monitoring"

// ruleTests is promtool's unit-test file format (the parts used here).
type ruleTests struct {
	RuleFiles          []string `json:"rule_files"`
	EvaluationInterval string   `json:"evaluation_interval"`
	Tests              []struct {
		Interval    string `json:"interval"`
		InputSeries []struct {
			Series string `json:"series"`
			Values string `json:"values"`
		} `json:"input_series"`
		AlertRuleTest []struct {
			EvalTime  string     `json:"eval_time"`
			Alertname string     `json:"alertname"`
			ExpAlerts []expAlert `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

type expAlert struct {
	ExpLabels      map[string]string `json:"exp_labels"`
	ExpAnnotations map[string]string `json:"exp_annotations"`
}

func duration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := model.ParseDuration(s)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(d)
}

// loadAlerts parses and validates the rule files with Prometheus' rulefmt.
func loadAlerts(t *testing.T, files []string) []rulefmt.Rule {
	t.Helper()
	var out []rulefmt.Rule
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(filepath.Join(monitoringDir, f), false, model.UTF8Validation,
			parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
		if len(errs) > 0 {
			t.Fatalf("%s: %v", f, errs)
		}
		for _, g := range groups.Groups {
			out = append(out, g.Rules...)
		}
	}
	return out
}

func TestAlertRules(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(monitoringDir, "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var suite ruleTests
	if err := yaml.UnmarshalStrict(data, &suite); err != nil {
		t.Fatal(err)
	}
	alerts := loadAlerts(t, suite.RuleFiles)
	tested := map[string]bool{}
	for i, tc := range suite.Tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			for _, at := range tc.AlertRuleTest {
				tested[at.Alertname] = true
			}
			runRuleTest(t, alerts, duration(t, suite.EvaluationInterval), tc.Interval, tc.InputSeries, tc.AlertRuleTest)
		})
	}
	for _, a := range alerts {
		if !tested[a.Alert] {
			t.Errorf("alert %s has no unit test", a.Alert)
		}
	}
}

// runRuleTest loads the series, evaluates every alert at each evaluation
// interval from 0 to the last eval_time, as Prometheus does, and compares
// the alerts firing at each eval_time (alertname left out of exp_labels, as
// in promtool).
func runRuleTest(t *testing.T, alerts []rulefmt.Rule, every time.Duration, interval string,
	series []struct {
		Series string `json:"series"`
		Values string `json:"values"`
	},
	checks []struct {
		EvalTime  string     `json:"eval_time"`
		Alertname string     `json:"alertname"`
		ExpAlerts []expAlert `json:"exp_alerts"`
	},
) {
	t.Helper()
	var load strings.Builder
	fmt.Fprintf(&load, "load %s\n", interval)
	for _, s := range series {
		fmt.Fprintf(&load, "  %s %s\n", s.Series, s.Values)
	}
	storage := promqltest.LoadedStorage(t, load.String())
	engine := promqltest.NewTestEngine(t, false, 0, 100000)
	query := rules.EngineQueryFunc(engine, storage)
	p := parser.NewParser(parser.Options{})
	byName := map[string]*rules.AlertingRule{}
	for _, a := range alerts {
		expr, err := p.ParseExpr(a.Expr)
		if err != nil {
			t.Fatal(err)
		}
		byName[a.Alert] = rules.NewAlertingRule(a.Alert, expr, time.Duration(a.For), time.Duration(a.KeepFiringFor),
			labels.FromMap(a.Labels), labels.FromMap(a.Annotations), labels.EmptyLabels(), "", true, slog.New(slog.DiscardHandler))
	}
	var last time.Duration
	due := map[time.Duration][]int{}
	for i, c := range checks {
		at := duration(t, c.EvalTime)
		due[at] = append(due[at], i)
		last = max(last, at)
	}
	for ts := time.Duration(0); ts <= last; ts += every {
		for _, name := range slices.Sorted(maps.Keys(byName)) {
			if _, err := byName[name].Eval(context.Background(), 0, time.Unix(0, 0).Add(ts), query, nil, 0); err != nil {
				t.Fatalf("%s at %s: %v", name, ts, err)
			}
		}
		for _, i := range due[ts] {
			c := checks[i]
			rule, ok := byName[c.Alertname]
			if !ok {
				t.Fatalf("no alert %s", c.Alertname)
			}
			var got []expAlert
			for _, a := range rule.ActiveAlerts() {
				if a.State == rules.StateFiring {
					l := a.Labels.Map()
					delete(l, "alertname")
					got = append(got, expAlert{ExpLabels: l, ExpAnnotations: a.Annotations.Map()})
				}
			}
			want := c.ExpAlerts
			if want == nil {
				want = []expAlert{}
			}
			if got == nil {
				got = []expAlert{}
			}
			if gy, wy := mustYAML(t, got), mustYAML(t, want); gy != wy {
				t.Errorf("%s at %s:\ngot  %s\nwant %s", c.Alertname, c.EvalTime, gy, wy)
			}
		}
	}
}

func mustYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
