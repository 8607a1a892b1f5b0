package simulator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sim-operator/sim-operator/internal/simulator"
)

const key = "doc-key"

// call sends one request to the handler and returns status and body.
func call(t testing.TB, h http.Handler, method, path, contentType, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, strings.TrimSpace(string(b))
}

const form = "application/x-www-form-urlencoded"

// The doc's NodeJS samples send form bodies (request's form: option) and
// expect exactly the doc's answers.
func TestDocSamplesWithFormBodies(t *testing.T) {
	s := simulator.New(simulator.Options{APIKey: key})
	steps := []struct {
		method, path, ctype, body string
		status                    int
		want                      string
	}{
		{"POST", "/sim/4512345678", form, "imsi=238731234567890&voice=true&sms=true&data=true&data_throttling=false", 200, `{"message":"OK"}`},
		{"GET", "/sim/4512345678", "", "", 200, `{"imsi":"238731234567890","msisdn":"4512345678","voice":true,"sms":true,"data":true,"data_throttling":false}`},
		{"PUT", "/sim/4512345678", form, "imsi=238731234567890&voice=true&sms=true&data=true&data_throttling=false", 200, `{"message":"OK"}`},
		{"POST", "/sms/4512345678", form, "from=Onomondo&text=Hello%2C%20World!", 200, `{"message":"OK"}`},
		{"DELETE", "/sim/4512345678", "", "", 200, `{"message":"OK"}`},
		{"GET", "/sim/238731234567890", "", "", 404, ""},
	}
	for _, st := range steps {
		status, body := call(t, s, st.method, st.path, st.ctype, st.body)
		if status != st.status || (st.want != "" && body != st.want) {
			t.Fatalf("%s %s = %d %s, want %d %s", st.method, st.path, status, body, st.status, st.want)
		}
	}
	if got := s.SMS(); len(got) != 1 || got[0].Text != "Hello, World!" || got[0].From != "Onomondo" {
		t.Fatalf("SMS log = %+v", got)
	}
}

func code(t testing.TB, body string) string {
	t.Helper()
	var e struct{ Error string }
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", body, err)
	}
	return e.Error
}

// Booleans must be booleans, in JSON and in forms; each field has its own code.
func TestBooleansMustBeBooleans(t *testing.T) {
	s := simulator.New(simulator.Options{APIKey: key})
	for _, field := range []string{"voice", "sms", "data", "data_throttling"} {
		for _, c := range []struct{ ctype, body string }{
			{"application/json", `{"` + field + `":"yes"}`},
			{"application/json", `{"` + field + `":1}`},
			{form, field + "=yes"},
		} {
			status, body := call(t, s, "POST", "/sim/238731234567890", c.ctype, c.body)
			if status != 400 || code(t, body) != field+"_invalid" {
				t.Errorf("%s %s = %d %s, want 400 %s_invalid", c.ctype, c.body, status, body, field)
			}
		}
	}
	if len(s.SIMs()) != 0 {
		t.Fatal("an invalid create stored a SIM")
	}
}

func TestRejectsBodiesThatAreNotObjects(t *testing.T) {
	s := simulator.New(simulator.Options{APIKey: key})
	for _, b := range []string{`[1]`, `"x"`, `{`, `null`} {
		status, body := call(t, s, "POST", "/sim/238731234567890", "application/json", b)
		if status != 400 || code(t, body) != "body_invalid" {
			t.Errorf("body %s = %d %s, want 400 body_invalid", b, status, body)
		}
	}
}

// Black-box tests steer and read the simulator over HTTP.
func TestAdminEndpoints(t *testing.T) {
	s := simulator.New(simulator.Options{APIKey: key})
	call(t, s, "POST", "/sim/238731234567890", "", "")
	call(t, s, "POST", "/sms/4512345678", "application/json", `{"from":"A","text":"hi"}`)

	status, body := call(t, s, "GET", "/_simulator/requests", "", "")
	var reqs []simulator.Request
	if status != 200 || json.Unmarshal([]byte(body), &reqs) != nil || len(reqs) != 2 || reqs[0].Route != "/sim/:id" || reqs[1].Status != 200 {
		t.Fatalf("requests = %d %s", status, body)
	}
	if _, body := call(t, s, "GET", "/_simulator/sims", "", ""); !strings.Contains(body, "238731234567890") {
		t.Fatalf("sims = %s", body)
	}
	if _, body := call(t, s, "GET", "/_simulator/sms", "", ""); !strings.Contains(body, `"text":"hi"`) {
		t.Fatalf("sms = %s", body)
	}
	if status, _ := call(t, s, "POST", "/_simulator/faults", "application/json", `{"failNext":1,"failStatus":500}`); status != 200 {
		t.Fatalf("set faults = %d", status)
	}
	if status, body := call(t, s, "GET", "/sim/238731234567890", "", ""); status != 500 || code(t, body) != "internal_error" {
		t.Fatalf("after failNext = %d %s", status, body)
	}
	if status, _ := call(t, s, "POST", "/_simulator/faults", "application/json", `{"nonsense":1}`); status != 400 {
		t.Fatalf("unknown fault field accepted: %d", status)
	}
	call(t, s, "POST", "/_simulator/reset", "", "")
	if len(s.SIMs()) != 0 || len(s.Requests()) != 0 || len(s.SMS()) != 0 {
		t.Fatal("reset left state behind")
	}
	req := httptest.NewRequest("GET", "/_simulator/requests", nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Fatalf("admin endpoint without key = %d, want 401", rec.Code)
	}
}

func TestErrorRateFailsThatFractionUnapplied(t *testing.T) {
	s := simulator.New(simulator.Options{APIKey: key, Seed: 1})
	s.SetFaults(simulator.Faults{ErrorRate: 1})
	if status, _ := call(t, s, "POST", "/sim/238731234567890", "", ""); status != 503 {
		t.Fatalf("status = %d, want 503", status)
	}
	if len(s.SIMs()) != 0 {
		t.Fatal("a failed request was applied")
	}
}

func TestCustomInventory(t *testing.T) {
	s := simulator.New(simulator.Options{APIKey: key, ForbiddenPrefixes: []string{"23801"}, UnknownPrefixes: []string{}})
	if status, _ := call(t, s, "POST", "/sim/238011234567890", "", ""); status != 403 {
		t.Fatalf("custom forbidden prefix = %d", status)
	}
	if status, _ := call(t, s, "POST", "/sim/000001234567890", "", ""); status != 200 {
		t.Fatalf("000 with no unknown prefixes = %d", status)
	}
}

// FuzzSIMWrite: whatever the body, the simulator answers a documented status
// with a JSON body, and never stores a SIM that breaks its own rules.
func FuzzSIMWrite(f *testing.F) {
	f.Add("POST", "application/json", `{"imsi":"238731234567890","voice":true}`)
	f.Add("POST", form, "imsi=238731234567890&voice=true&sms=false&data=true&data_throttling=false")
	f.Add("PUT", "application/json", `{"data":false,"data_throttling":true}`)
	f.Add("POST", "application/json", `{"msisdn":"+4512345678"}`)
	f.Add("POST", form, "voice=yes&imsi=%ZZ")
	f.Add("PUT", "text/plain", "\x00\xff")
	f.Fuzz(func(t *testing.T, method, ctype, body string) {
		if method != "POST" && method != "PUT" {
			method = "POST"
		}
		s := simulator.New(simulator.Options{APIKey: key})
		call(t, s, "POST", "/sim/238731234567890", "", "")
		status, out := call(t, s, method, "/sim/238731234567890", ctype, body)
		switch status {
		case 200, 400, 403, 404, 409:
		default:
			t.Fatalf("status %d for %q", status, body)
		}
		if !json.Valid([]byte(out)) {
			t.Fatalf("answer %q is not JSON", out)
		}
		for _, v := range s.SIMs() {
			if len(v.IMSI) != 15 || (v.DataThrottling && !v.Data) {
				t.Fatalf("stored an invalid SIM %+v from %q", v, body)
			}
		}
	})
}
