package onomondo

import "github.com/prometheus/client_golang/prometheus"

// RequestsCounter exposes the request counter to the external tests.
func RequestsCounter(method, route, code string) prometheus.Counter {
	return requests.WithLabelValues(method, route, code)
}
