package onomondo

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the client's Prometheus metrics. Clients of one process share
// them: NewMetrics registers them with a registerer once, and a second call
// with the same registerer returns the collectors already there.
type Metrics struct {
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	budgetWait prometheus.Histogram
	hold       *prometheus.GaugeVec
	asked      *prometheus.GaugeVec
	waitCap    prometheus.Gauge
}

// NewMetrics makes the client metrics and registers them with reg (none if nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "onomondo_api_requests_total",
			Help: "Calls to the Onomondo API by account, method, route template and HTTP status code (\"error\" when no answer arrived).",
		}, []string{"account", "method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "onomondo_api_request_duration_seconds",
			Help:    "Latency of calls to the Onomondo API, by account.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 13),
		}, []string{"account", "method", "route"}),
		budgetWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "onomondo_api_ratelimit_wait_seconds",
			Help:    "Time calls waited for the client-side API budget or an API rate-limit reset.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		hold: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "onomondo_api_ratelimit_hold_seconds",
			Help: "The last pause the API's rate limit imposed on an account's calls, after the cap (--api-max-retry-after).",
		}, []string{"account"}),
		asked: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "onomondo_api_ratelimit_asked_seconds",
			Help: "The last pause the API asked an account's calls to make (Retry-After, x-ratelimit-reset), before the cap.",
		}, []string{"account"}),
		waitCap: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "onomondo_api_ratelimit_max_wait_seconds",
			Help: "The cap on every wait the API dictates (--api-max-retry-after).",
		}),
	}
	if reg != nil {
		m.hold = registered(reg, m.hold)
		m.asked = registered(reg, m.asked)
		m.waitCap = registered(reg, m.waitCap)
		m.requests = registered(reg, m.requests)
		m.latency = registered(reg, m.latency)
		m.budgetWait = registered(reg, m.budgetWait)
	}
	return m
}

// registered registers c, or returns the equal collector registered before.
func registered[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	return c
}

// held records a pause the API asked for, and the one imposed.
func (m *Metrics) held(account string, asked, imposed time.Duration) {
	m.asked.WithLabelValues(account).Set(asked.Seconds())
	m.hold.WithLabelValues(account).Set(imposed.Seconds())
}

// Forget drops an account's series: the account is gone.
func (m *Metrics) Forget(account string) {
	for _, v := range []*prometheus.GaugeVec{m.hold, m.asked} {
		v.DeleteLabelValues(account)
	}
	m.requests.DeletePartialMatch(prometheus.Labels{"account": account})
	m.latency.DeletePartialMatch(prometheus.Labels{"account": account})
}

func (m *Metrics) observe(account, method, route, code string, d time.Duration) {
	m.requests.WithLabelValues(account, method, route, code).Inc()
	m.latency.WithLabelValues(account, method, route).Observe(d.Seconds())
}
