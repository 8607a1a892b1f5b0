package onomondo

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfterHeaders(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cases := []struct {
		name    string
		headers map[string]string
		want    time.Duration
	}{
		{"none", nil, 0},
		{"Retry-After seconds", map[string]string{"Retry-After": "12"}, 12 * time.Second},
		{"Retry-After HTTP date", map[string]string{"Retry-After": now.Add(30 * time.Second).UTC().Format(http.TimeFormat)}, 30 * time.Second},
		{"reset as seconds from now", map[string]string{"x-ratelimit-reset": "42"}, 42 * time.Second},
		{"reset as a Unix time", map[string]string{"x-ratelimit-reset": "1800000090"}, 90 * time.Second},
		{"reset as a Unix time in milliseconds", map[string]string{"x-ratelimit-reset": "1800000090000"}, 90 * time.Second},
		{"Retry-After wins over reset", map[string]string{"Retry-After": "3", "x-ratelimit-reset": "42"}, 3 * time.Second},
		{"garbage", map[string]string{"Retry-After": "soon", "x-ratelimit-reset": "later"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			if got := retryAfter(h, now); got != tc.want {
				t.Fatalf("retryAfter = %s, want %s", got, tc.want)
			}
		})
	}
}
