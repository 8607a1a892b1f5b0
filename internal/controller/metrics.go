package controller

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

var (
	simsDesc = prometheus.NewDesc("sim_operator_sims",
		"SIM resources by their Ready condition's status and reason.", []string{"ready", "reason"}, nil)
	smsDesc = prometheus.NewDesc("sim_operator_sms_messages",
		"SMSMessage resources by their Sent condition's reason (Pending before the first attempt).", []string{"state"}, nil)
)

// StateCollector counts resources by condition at scrape time, from the
// informer cache: no extra apiserver calls, and no state kept in between.
type StateCollector struct {
	Reader client.Reader
}

// RegisterStateCollector adds the collector to controller-runtime's registry
// (once per process: a second manager in the same process reuses the first's).
func RegisterStateCollector(r client.Reader) error {
	err := metrics.Registry.Register(&StateCollector{Reader: r})
	if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
		return nil
	}
	return err
}

// Describe implements prometheus.Collector.
func (c *StateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- simsDesc
	ch <- smsDesc
}

// Collect implements prometheus.Collector.
func (c *StateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var sims v1alpha1.SIMList
	if err := c.Reader.List(ctx, &sims, client.UnsafeDisableDeepCopy); err == nil {
		counts := map[[2]string]int{}
		for i := range sims.Items {
			k := [2]string{"Unknown", ""}
			if cond := meta.FindStatusCondition(sims.Items[i].Status.Conditions, v1alpha1.ConditionReady); cond != nil {
				k = [2]string{string(cond.Status), cond.Reason}
			}
			counts[k]++
		}
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(simsDesc, prometheus.GaugeValue, float64(n), k[0], k[1])
		}
	}
	var msgs v1alpha1.SMSMessageList
	if err := c.Reader.List(ctx, &msgs, client.UnsafeDisableDeepCopy); err == nil {
		counts := map[string]int{}
		for i := range msgs.Items {
			state := "Pending"
			if cond := meta.FindStatusCondition(msgs.Items[i].Status.Conditions, v1alpha1.ConditionSent); cond != nil {
				state = cond.Reason
			}
			counts[state]++
		}
		for state, n := range counts {
			ch <- prometheus.MustNewConstMetric(smsDesc, prometheus.GaugeValue, float64(n), state)
		}
	}
}
