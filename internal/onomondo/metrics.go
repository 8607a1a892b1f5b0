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
	}
	if reg != nil {
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

func (m *Metrics) observe(account, method, route, code string, d time.Duration) {
	m.requests.WithLabelValues(account, method, route, code).Inc()
	m.latency.WithLabelValues(account, method, route).Observe(d.Seconds())
}
