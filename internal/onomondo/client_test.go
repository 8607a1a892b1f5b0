package onomondo_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sim-operator/sim-operator/internal/onomondo"
	"github.com/sim-operator/sim-operator/internal/simulator"
	simtest "github.com/sim-operator/sim-operator/internal/testutil"
)

const (
	imsi   = "238731234567890"
	msisdn = "4512345678"
)

func newClient(t *testing.T, s *simtest.SimServer, cfg onomondo.Config) *onomondo.Client {
	t.Helper()
	c, err := s.Client(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSIMLifecycleByIMSIAndByMSISDN(t *testing.T) {
	s := simtest.Start(t, simulator.Options{})
	c := newClient(t, s, onomondo.Config{})
	ctx := context.Background()

	want := onomondo.SIM{IMSI: imsi, MSISDN: msisdn, Voice: true, SMS: false, Data: true}
	if err := c.CreateSIM(ctx, imsi, want); err != nil {
		t.Fatalf("create: %v", err)
	}
	for _, id := range []string{imsi, msisdn, "+" + msisdn} {
		got, err := c.GetSIM(ctx, id)
		if err != nil || *got != want {
			t.Fatalf("get %s = %+v, %v; want %+v", id, got, err, want)
		}
	}
	want.DataThrottling = true
	if err := c.UpdateSIM(ctx, msisdn, want); err != nil {
		t.Fatalf("update by msisdn: %v", err)
	}
	if got, _ := s.SIM(imsi); !got.DataThrottling {
		t.Fatalf("update by msisdn not applied: %+v", got)
	}
	if err := c.DeleteSIM(ctx, msisdn); err != nil {
		t.Fatalf("delete by msisdn: %v", err)
	}
	if _, err := c.GetSIM(ctx, imsi); !onomondo.IsCode(err, onomondo.CodeSIMNotFound) {
		t.Fatalf("get after delete: %v, want sim_not_found", err)
	}

	// A SIM created by MSISDN alone is addressable by that MSISDN.
	if err := c.CreateSIM(ctx, "4598765432", onomondo.SIM{MSISDN: "4598765432", Voice: true, SMS: true, Data: true}); err != nil {
		t.Fatalf("create by msisdn: %v", err)
	}
	if got, err := c.GetSIM(ctx, "4598765432"); err != nil || len(got.IMSI) != 15 {
		t.Fatalf("get msisdn-only SIM = %+v, %v", got, err)
	}
}

func TestSMSAndConnectorRoutes(t *testing.T) {
	s := simtest.Start(t, simulator.Options{})
	c := newClient(t, s, onomondo.Config{})
	ctx := context.Background()

	if err := c.SendSMS(ctx, "+"+msisdn, onomondo.SMS{From: "Onomondo", Text: "Hello, World! ✓"}); err != nil {
		t.Fatalf("send: %v", err)
	}
	if got := s.SMS(); len(got) != 1 || got[0].To != msisdn || got[0].Text != "Hello, World! ✓" {
		t.Fatalf("simulator SMS log = %+v", got)
	}

	body := json.RawMessage(`{"type":"webhook","url":"https://example.test/hook","retries":3}`)
	if err := c.CreateConnector(ctx, "hook-1", body); err != nil {
		t.Fatalf("create connector: %v", err)
	}
	got, err := c.GetConnector(ctx, "hook-1")
	if err != nil {
		t.Fatalf("get connector: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil || m["url"] != "https://example.test/hook" || m["retries"] != 3.0 {
		t.Fatalf("connector = %s (%v)", got, err)
	}
	if err := c.UpdateConnector(ctx, "hook-1", json.RawMessage(`{"type":"webhook"}`)); err != nil {
		t.Fatalf("update connector: %v", err)
	}
	if err := c.DeleteConnector(ctx, "hook-1"); err != nil {
		t.Fatalf("delete connector: %v", err)
	}
}

// Every error code the doc lists (and the simulator's own) reaches the caller
// as an *APIError with the HTTP status, the code, and the right class.
func TestEveryErrorCode(t *testing.T) {
	s := simtest.Start(t, simulator.Options{})
	c := newClient(t, s, onomondo.Config{})
	ctx := context.Background()
	if err := c.CreateSIM(ctx, imsi, onomondo.SIM{IMSI: imsi, MSISDN: msisdn, Data: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateConnector(ctx, "c1", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	wrongKey := newClient(t, s, onomondo.Config{APIKey: "wrong"})

	cases := []struct {
		name   string
		call   func() error
		status int
		code   string
	}{
		{"imsi_invalid on create", func() error { return c.CreateSIM(ctx, "1234", onomondo.SIM{IMSI: "1234"}) }, 400, onomondo.CodeIMSIInvalid},
		{"imsi_invalid on get", func() error { _, err := c.GetSIM(ctx, "0123"); return err }, 400, onomondo.CodeIMSIInvalid},
		{"msisdn_invalid", func() error { _, err := c.GetSIM(ctx, "45-12"); return err }, 400, onomondo.CodeMSISDNInvalid},
		{"msisdn_invalid in body", func() error {
			return c.CreateSIM(ctx, "238730000000001", onomondo.SIM{MSISDN: "+0123"})
		}, 400, onomondo.CodeMSISDNInvalid},
		{"imsi_forbidden on create", func() error { return c.CreateSIM(ctx, "999001234567890", onomondo.SIM{Data: true}) }, 403, onomondo.CodeIMSIForbidden},
		{"imsi_forbidden on get", func() error { _, err := c.GetSIM(ctx, "999001234567890"); return err }, 403, onomondo.CodeIMSIForbidden},
		{"imsi_not_found", func() error { return c.CreateSIM(ctx, "000001234567890", onomondo.SIM{Data: true}) }, 404, onomondo.CodeIMSINotFound},
		{"sim_not_found on get", func() error { _, err := c.GetSIM(ctx, "238739999999999"); return err }, 404, onomondo.CodeSIMNotFound},
		{"sim_not_found on update", func() error { return c.UpdateSIM(ctx, "238739999999999", onomondo.SIM{}) }, 404, onomondo.CodeSIMNotFound},
		{"sim_not_found on delete", func() error { return c.DeleteSIM(ctx, "4511111111") }, 404, onomondo.CodeSIMNotFound},
		{"imsi_conflict", func() error { return c.CreateSIM(ctx, imsi, onomondo.SIM{Data: true}) }, 409, onomondo.CodeIMSIConflict},
		{"data_data_throttling_conflict on create", func() error {
			return c.CreateSIM(ctx, "238730000000002", onomondo.SIM{DataThrottling: true})
		}, 409, onomondo.CodeDataDataThrottlingConflict},
		{"data_data_throttling_conflict on update", func() error {
			return c.UpdateSIM(ctx, imsi, onomondo.SIM{DataThrottling: true})
		}, 409, onomondo.CodeDataDataThrottlingConflict},
		{"to_invalid", func() error { return c.SendSMS(ctx, "abc", onomondo.SMS{From: "A", Text: "t"}) }, 400, onomondo.CodeToInvalid},
		{"from_invalid", func() error { return c.SendSMS(ctx, msisdn, onomondo.SMS{From: "far-too-long-sender", Text: "t"}) }, 400, onomondo.CodeFromInvalid},
		{"text_invalid", func() error { return c.SendSMS(ctx, msisdn, onomondo.SMS{From: "A", Text: ""}) }, 400, onomondo.CodeTextInvalid},
		{"unauthorized", func() error { _, err := wrongKey.GetSIM(ctx, imsi); return err }, 401, onomondo.CodeUnauthorized},
		{"id_invalid", func() error { _, err := c.GetConnector(ctx, "bad id!"); return err }, 400, onomondo.CodeIDInvalid},
		{"config_invalid", func() error { return c.CreateConnector(ctx, "c2", json.RawMessage(`[1,2]`)) }, 400, onomondo.CodeConfigInvalid},
		{"connector_conflict", func() error { return c.CreateConnector(ctx, "c1", json.RawMessage(`{}`)) }, 409, onomondo.CodeConnectorConflict},
		{"connector_not_found", func() error { return c.DeleteConnector(ctx, "nope") }, 404, onomondo.CodeConnectorNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var apiErr *onomondo.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error = %v, want *APIError", err)
			}
			if apiErr.StatusCode != tc.status || apiErr.Code != tc.code {
				t.Fatalf("got %d %q, want %d %q", apiErr.StatusCode, apiErr.Code, tc.status, tc.code)
			}
			if !strings.Contains(err.Error(), tc.code) || !strings.Contains(err.Error(), fmt.Sprint(tc.status)) {
				t.Fatalf("message %q names neither code nor status", err)
			}
		})
	}
}

// Injected faults are classified: retryable or not, and whether the write
// may have been applied (the SMS controller's at-most-once rests on this).
func TestFaultClassification(t *testing.T) {
	ctx := context.Background()
	sim := onomondo.SIM{IMSI: imsi, Voice: true, SMS: true, Data: true}

	t.Run("503 is reported with its status", func(t *testing.T) {
		s := simtest.Start(t, simulator.Options{})
		s.SetFaults(simulator.Faults{FailNext: 1})
		err := newClient(t, s, onomondo.Config{}).CreateSIM(ctx, imsi, sim)
		assertStatus(t, err, 503)
	})
	t.Run("500 is reported with its status", func(t *testing.T) {
		s := simtest.Start(t, simulator.Options{})
		s.SetFaults(simulator.Faults{FailNext: 1, FailStatus: 500})
		err := newClient(t, s, onomondo.Config{}).CreateSIM(ctx, imsi, sim)
		assertStatus(t, err, 500)
	})
	t.Run("429 carries Retry-After and sends nothing", func(t *testing.T) {
		s := simtest.Start(t, simulator.Options{})
		s.SetFaults(simulator.Faults{TooManyNext: 1, RetryAfterSeconds: 7})
		err := newClient(t, s, onomondo.Config{}).SendSMS(ctx, msisdn, onomondo.SMS{From: "A", Text: "x"})
		if got := assertStatus(t, err, 429).RetryAfter; got != 7*time.Second {
			t.Fatalf("RetryAfter = %s, want 7s", got)
		}
		if n := len(s.SMS()); n != 0 {
			t.Fatalf("a 429 sent %d SMS", n)
		}
	})
	t.Run("a spent hosted-like budget pauses the client until reset", func(t *testing.T) {
		now := time.Unix(1_800_000_000, 0)
		s := simtest.Start(t, simulator.Options{Now: func() time.Time { return now }})
		s.SetFaults(simulator.Faults{RateLimit: 1, RateLimitWindowSeconds: 60})
		c := newClient(t, s, onomondo.Config{})
		if err := c.CreateSIM(ctx, imsi, sim); err != nil {
			t.Fatal(err)
		}
		// The answer said remaining=0, reset in 60s: the next call does not go out.
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := c.GetSIM(short, imsi)
		var budget *onomondo.BudgetError
		if !errors.As(err, &budget) {
			t.Fatalf("error = %v, want a BudgetError (nothing sent)", err)
		}
		if n := s.CountRequests("", ""); n != 1 {
			t.Fatalf("the API saw %d requests, want 1", n)
		}
	})
	t.Run("the API's 429 beyond its limit carries the reset", func(t *testing.T) {
		s := simtest.Start(t, simulator.Options{})
		s.SetFaults(simulator.Faults{RateLimit: 1, RateLimitWindowSeconds: 30})
		c1 := newClient(t, s, onomondo.Config{})
		c2 := newClient(t, s, onomondo.Config{}) // another client, unaware of the spent budget
		_ = c1.CreateSIM(ctx, imsi, sim)
		_, err := c2.GetSIM(ctx, imsi)
		if got := assertStatus(t, err, 429).RetryAfter; got <= 0 || got > 30*time.Second {
			t.Fatalf("RetryAfter = %s, want (0, 30s]", got)
		}
	})
	t.Run("a dropped response may have been applied", func(t *testing.T) {
		s := simtest.Start(t, simulator.Options{})
		s.SetFaults(simulator.Faults{DropNext: 1})
		err := newClient(t, s, onomondo.Config{}).SendSMS(ctx, msisdn, onomondo.SMS{From: "A", Text: "x"})
		var te *onomondo.TransportError
		if !errors.As(err, &te) || !te.Written {
			t.Fatalf("error = %v, want a written TransportError", err)
		}
		if n := len(s.SMS()); n != 1 {
			t.Fatalf("the dropped send was applied %d times, want 1", n)
		}
	})
	t.Run("a timeout after writing may have been applied", func(t *testing.T) {
		s := simtest.Start(t, simulator.Options{})
		s.SetFaults(simulator.Faults{LatencyMillis: 2000})
		err := newClient(t, s, onomondo.Config{Timeout: 100 * time.Millisecond}).CreateSIM(ctx, imsi, sim)
		var te *onomondo.TransportError
		if !errors.As(err, &te) || !te.Written {
			t.Fatalf("error = %v, want a written TransportError", err)
		}
	})
	t.Run("connection refused was not applied", func(t *testing.T) {
		s := simtest.Start(t, simulator.Options{})
		c := newClient(t, s, onomondo.Config{})
		s.Close()
		err := c.SendSMS(ctx, msisdn, onomondo.SMS{From: "A", Text: "x"})
		var te *onomondo.TransportError
		if !errors.As(err, &te) || te.Written {
			t.Fatalf("error = %v, want an unwritten TransportError", err)
		}
	})
	t.Run("the local budget refuses a call it cannot make in time", func(t *testing.T) {
		s := simtest.Start(t, simulator.Options{})
		c := newClient(t, s, onomondo.Config{Rate: 0.01, Burst: 1})
		if _, err := c.GetSIM(ctx, imsi); !onomondo.IsCode(err, onomondo.CodeSIMNotFound) {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := c.GetSIM(short, imsi)
		var budget *onomondo.BudgetError
		if !errors.As(err, &budget) {
			t.Fatalf("error = %v, want a BudgetError (nothing sent)", err)
		}
	})
}

func assertStatus(t *testing.T, err error, status int) *onomondo.APIError {
	t.Helper()
	var apiErr *onomondo.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != status {
		t.Fatalf("error = %v, want HTTP %d", err, status)
	}
	return apiErr
}

// The client tolerates answers that are not the simulator's shape.
func TestTolerantErrorBodies(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		code   string
		msg    string
	}{
		{"html from a proxy", 502, "<html>Bad Gateway</html>", "", "<html>Bad Gateway</html>"},
		{"unknown code", 418, `{"error":"teapot_empty"}`, "teapot_empty", ""},
		{"nested error object", 400, `{"error":{"code":"imsi_invalid","message":"nope"}}`, "imsi_invalid", "nope"},
		{"code field", 409, `{"code":"imsi_conflict","message":"exists"}`, "imsi_conflict", "exists"},
		{"empty body", 503, ``, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
			c, err := onomondo.New(onomondo.Config{BaseURL: srv.URL, APIKey: "k", Rate: -1, CAPEM: ca})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetSIM(context.Background(), imsi)
			var apiErr *onomondo.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || apiErr.Code != tc.code || apiErr.Message != tc.msg {
				t.Fatalf("error = %#v", err)
			}
		})
	}
}

func TestConfigChecks(t *testing.T) {
	if _, err := onomondo.New(onomondo.Config{BaseURL: "http://127.0.0.1:1", APIKey: "k"}); err == nil || !strings.Contains(err.Error(), "http") {
		t.Fatalf("plain http accepted: %v", err)
	}
	if _, err := onomondo.New(onomondo.Config{BaseURL: "http://127.0.0.1:1", APIKey: "k", AllowInsecureHTTP: true}); err != nil {
		t.Fatalf("plain http refused with the insecure option: %v", err)
	}
	if _, err := onomondo.New(onomondo.Config{APIKey: "k", CAFile: "/nonexistent/ca.pem"}); err == nil {
		t.Fatal("unreadable CA accepted")
	}
	if _, err := onomondo.New(onomondo.Config{APIKey: "k", CAPEM: []byte("not pem")}); err == nil {
		t.Fatal("CA without certificates accepted")
	}
	if _, err := onomondo.New(onomondo.Config{BaseURL: "ftp://x", APIKey: "k"}); err == nil {
		t.Fatal("ftp URL accepted")
	}
}

// The key is a secret: it must not leak through formatting, errors or metrics.
func TestAPIKeyNeverLeaks(t *testing.T) {
	const key = "sk-live-SECRET-7f3a9c"
	s := simtest.Start(t, simulator.Options{APIKey: key})
	reg := prometheus.NewRegistry()
	cfg := onomondo.Config{APIKey: key, Metrics: onomondo.NewMetrics(reg)}
	c := newClient(t, s, cfg)
	ctx := context.Background()
	_ = c.CreateSIM(ctx, "999001234567890", onomondo.SIM{})
	_, errNotFound := c.GetSIM(ctx, "238739999999999")
	s.SetFaults(simulator.Faults{DropNext: 1})
	errDropped := c.CreateSIM(ctx, imsi, onomondo.SIM{Data: true})
	wrong := newClient(t, s, onomondo.Config{APIKey: key + "-wrong", Metrics: cfg.Metrics})
	_, errAuth := wrong.GetSIM(ctx, imsi)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	_ = l.Close()
	refused, _ := onomondo.New(onomondo.Config{BaseURL: "https://" + l.Addr().String(), APIKey: key, Metrics: cfg.Metrics})
	errRefused := refused.DeleteSIM(ctx, imsi)

	var out strings.Builder
	for _, v := range []any{cfg, &cfg, c, errNotFound, errDropped, errAuth, errRefused} {
		fmt.Fprintf(&out, "%v %+v %#v %s\n", v, v, v, v)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) == 0 {
		t.Fatal("no metrics gathered: the check below would prove nothing")
	}
	for _, f := range fams {
		fmt.Fprintln(&out, f.String())
	}
	if strings.Contains(out.String(), key) || strings.Contains(out.String(), "SECRET") {
		t.Fatalf("the API key leaked:\n%s", out.String())
	}
}

// Metrics carry route templates, never raw identifiers (unbounded cardinality).
func TestMetricsUseRouteTemplates(t *testing.T) {
	s := simtest.Start(t, simulator.Options{})
	reg := prometheus.NewRegistry()
	c := newClient(t, s, onomondo.Config{Metrics: onomondo.NewMetrics(reg)})
	_, _ = c.GetSIM(context.Background(), imsi)
	want := `
# HELP onomondo_api_requests_total Calls to the Onomondo API by account, method, route template and HTTP status code ("error" when no answer arrived).
# TYPE onomondo_api_requests_total counter
onomondo_api_requests_total{account="default",code="404",method="GET",route="/sim/:id"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "onomondo_api_requests_total"); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "onomondo_") && strings.Contains(f.String(), imsi) {
			t.Fatalf("metric %s has a raw IMSI label", f.GetName())
		}
	}
}

// Background work (drift checks and their corrections) holds no place in
// the budget's queue: with ten background calls waiting on a budget of 10
// calls a second, a call for a user's change goes next, not eleventh.
func TestAForegroundCallGoesAheadOfWaitingBackgroundCalls(t *testing.T) {
	s := simtest.Start(t, simulator.Options{})
	c := newClient(t, s, onomondo.Config{Rate: 10, Burst: 1})
	ctx := t.Context()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() { _, _ = c.GetSIM(onomondo.Background(ctx), fmt.Sprintf("23873000000%04d", i)) })
	}
	for len(s.Requests()) == 0 { // the first background call went out: the others wait
		time.Sleep(time.Millisecond)
	}
	if _, err := c.GetSIM(ctx, imsi); err != nil && !onomondo.IsCode(err, onomondo.CodeSIMNotFound) {
		t.Fatal(err)
	}
	wg.Wait()
	var order []string
	for _, r := range s.Requests() {
		order = append(order, strings.TrimPrefix(r.Path, "/sim/"))
	}
	if i := slices.Index(order, imsi); i < 0 || i > 2 {
		t.Fatalf("the foreground call went out %dth of %d (%q); want it next after the background call under way", i+1, len(order), order)
	}
}
