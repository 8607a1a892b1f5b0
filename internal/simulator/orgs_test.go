package simulator_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sim-operator/sim-operator/internal/simulator"
)

func TestOrgsKeepEachKeysSIMsApart(t *testing.T) {
	a, b := simulator.New(simulator.Options{APIKey: "key-a"}), simulator.New(simulator.Options{APIKey: "key-b"})
	orgs := simulator.Orgs{"key-a": a, "key-b": b}
	call := func(key, method, path, body string) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		orgs.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := call("key-a", "POST", "/sim/238730000000001", `{"voice":true}`); code != 200 {
		t.Fatalf("create in org a: %d", code)
	}
	if code := call("key-b", "GET", "/sim/238730000000001", ""); code != 404 {
		t.Fatalf("org b sees org a's SIM: %d", code)
	}
	if code := call("key-a", "GET", "/sim/238730000000001", ""); code != 200 {
		t.Fatalf("org a does not see its SIM: %d", code)
	}
	if code := call("other", "GET", "/sim/238730000000001", ""); code != 401 {
		t.Fatalf("an unknown key: %d, want 401", code)
	}
}
