package onomondo

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "onomondo_api_requests_total",
		Help: "Calls to the Onomondo API by method, route template and HTTP status code (\"error\" when no answer arrived).",
	}, []string{"method", "route", "code"})
	latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "onomondo_api_request_duration_seconds",
		Help:    "Latency of calls to the Onomondo API.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 13),
	}, []string{"method", "route"})
	budgetWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "onomondo_api_ratelimit_wait_seconds",
		Help:    "Time calls waited for the client-side API budget or an API rate-limit reset.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
)

func init() {
	metrics.Registry.MustRegister(requests, latency, budgetWait)
}

func observe(method, route, code string, d time.Duration) {
	requests.WithLabelValues(method, route, code).Inc()
	latency.WithLabelValues(method, route).Observe(d.Seconds())
}
