package onomondo_test

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sim-operator/sim-operator/internal/onomondo"
	"github.com/sim-operator/sim-operator/internal/simulator"
	simtest "github.com/sim-operator/sim-operator/internal/testutil"
)

// A hostile or broken API: what the client makes of answers no
// well-behaved API gives.

func TestAServerDictatedWaitIsCappedAndNeverHoldsACall(t *testing.T) {
	ctx := context.Background()
	for name, headers := range map[string]map[string]string{
		"Retry-After: a day":                     {"Retry-After": "86400"},
		"x-ratelimit-reset a day ahead":          {"x-ratelimit-reset": strconv.FormatInt(time.Now().Add(24*time.Hour).Unix(), 10), "x-ratelimit-remaining": "0"},
		"x-ratelimit-reset in milliseconds":      {"x-ratelimit-reset": strconv.FormatInt(time.Now().Add(24*time.Hour).UnixMilli(), 10)},
		"x-ratelimit-remaining 0, reset 10 days": {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "864000"},
	} {
		t.Run(name, func(t *testing.T) {
			s := simtest.Start(t, simulator.Options{})
			s.SetFaults(simulator.Faults{AnswerNext: 1, Answer: simulator.Answer{Status: 429, Headers: headers, Body: `{"error":"rate_limited"}`}})
			c := newClient(t, s, onomondo.Config{MaxRetryAfter: 90 * time.Second})
			_, err := c.GetSIM(ctx, imsi)
			var apiErr *onomondo.APIError
			if !errors.As(err, &apiErr) || apiErr.RetryAfter != 90*time.Second {
				t.Fatalf("error = %#v, want a 429 whose RetryAfter is capped at 90s", err)
			}
			if !strings.Contains(err.Error(), "the operator's cap") {
				t.Errorf("the error does not show the wait asked and the cap: %v", err)
			}
			start := time.Now()
			_, err = c.GetSIM(ctx, imsi) // no deadline: a held call must not block
			var budget *onomondo.BudgetError
			if !errors.As(err, &budget) || budget.RetryAfter <= 80*time.Second || budget.RetryAfter > 90*time.Second {
				t.Fatalf("error = %#v, want a BudgetError naming the capped hold", err)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("a held call blocked for %s", time.Since(start))
			}
			if n := s.CountRequests("", ""); n != 1 {
				t.Fatalf("the API saw %d requests, want 1 (the held call is not sent)", n)
			}
		})
	}
}

// tlsServer is an HTTPS test server on loopback and a client trusting it.
func tlsServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, []byte) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func TestARedirectIsNeverFollowedAndNamesItsTarget(t *testing.T) {
	var reached atomic.Int32
	other, _ := tlsServer(t, func(w http.ResponseWriter, r *http.Request) { reached.Add(1); w.WriteHeader(200) })
	for _, status := range []int{301, 302, 303, 307, 308} {
		api, ca := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, status)
		})
		c, err := onomondo.New(onomondo.Config{BaseURL: api.URL, APIKey: "secret-key", CAPEM: ca, Rate: -1})
		if err != nil {
			t.Fatal(err)
		}
		err = c.CreateSIM(context.Background(), imsi, onomondo.SIM{IMSI: imsi})
		var redirect *onomondo.RedirectError
		if !errors.As(err, &redirect) || redirect.StatusCode != status || !strings.Contains(err.Error(), other.URL) {
			t.Fatalf("%d: error = %v, want a RedirectError naming %s", status, err, other.URL)
		}
		if strings.Contains(err.Error(), imsi) {
			t.Errorf("%d: the error names the IMSI: %v", status, err)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the redirect target (same host, another port) got %d requests", n)
	}
}

func TestA200ThatIsNotTheSIMAskedForIsInvalid(t *testing.T) {
	cases := map[string]simulator.Answer{
		"null":                  {Body: "null"},
		"empty":                 {},
		"an empty object":       {Body: "{}"},
		"another SIM":           {Body: `{"imsi":"238730000000999","msisdn":"4599","voice":true}`},
		"cut off":               {Body: `{"imsi":"` + imsi + `","voice":tr`},
		"cut at the read limit": {Body: `{"imsi":"` + imsi + `","pad":"` + strings.Repeat("x", 1<<20) + `"}`},
		"not JSON":              {Body: "<html>OK</html>"},
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			s := simtest.Start(t, simulator.Options{})
			s.SetFaults(simulator.Faults{AnswerNext: 1, Answer: answer})
			got, err := newClient(t, s, onomondo.Config{}).GetSIM(context.Background(), imsi)
			var invalid *onomondo.InvalidResponseError
			if !errors.As(err, &invalid) || got != nil {
				t.Fatalf("GetSIM = %+v, %v; want an InvalidResponseError", got, err)
			}
		})
	}
	t.Run("the SIM asked for, by MSISDN with or without +, is valid", func(t *testing.T) {
		s := simtest.Start(t, simulator.Options{})
		s.PutSIM(simulator.SIM{IMSI: imsi, MSISDN: msisdn})
		c := newClient(t, s, onomondo.Config{})
		for _, id := range []string{imsi, msisdn, "+" + msisdn} {
			if _, err := c.GetSIM(context.Background(), id); err != nil {
				t.Fatalf("GetSIM(%s): %v", id, err)
			}
		}
	})
}

func TestAHostileErrorBodyIsBounded(t *testing.T) {
	s := simtest.Start(t, simulator.Options{})
	s.SetFaults(simulator.Faults{AnswerNext: 1, Answer: simulator.Answer{Status: 400,
		Body: `{"error":"` + strings.Repeat("c", 500) + `","message":"` + strings.Repeat("é", 20000) + `"}`}})
	_, err := newClient(t, s, onomondo.Config{}).GetSIM(context.Background(), imsi)
	var apiErr *onomondo.APIError
	if !errors.As(err, &apiErr) || len(apiErr.Message) > 256 || len(apiErr.Code) > 64 || len(err.Error()) > 512 {
		t.Fatalf("error = %d bytes (message %d, code %d), want bounded", len(err.Error()), len(apiErr.Message), len(apiErr.Code))
	}
}

func TestTheOrganisationIsTheKeysNotTheURLs(t *testing.T) {
	org := func(url, key string) string {
		c, err := onomondo.New(onomondo.Config{BaseURL: url, APIKey: key})
		if err != nil {
			t.Fatal(err)
		}
		return c.Organisation()
	}
	a := org("https://127.0.0.1:8443", "key-a")
	switch {
	case a != org("https://proxy.example:443/onomondo", "key-a"):
		t.Error("one key through two endpoints is two organisations")
	case a == org("https://127.0.0.1:8443", "key-b"):
		t.Error("two keys are one organisation")
	case strings.Contains(a, "key-a"), org("https://x", "") != "":
		t.Errorf("organisation %q shows the key, or a client without a key has one", a)
	}
}
