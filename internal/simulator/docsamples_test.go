package simulator_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sim-operator/sim-operator/internal/simulator"
)

// The doc's NodeJS samples, run as written with the request package, get the
// doc's answers. `make test` installs request into hack/doc-samples first.
func TestDocNodeJSSamples(t *testing.T) {
	dir, _ := filepath.Abs("../../hack/doc-samples")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "request")); err != nil {
		t.Skip("hack/doc-samples/node_modules missing; `make test` runs npm install there")
	}
	s := simulator.New(simulator.Options{APIKey: "YOUR-API-KEY"})
	srv := httptest.NewUnstartedServer(s)
	cfg, caPEM, err := simulator.SelfSignedTLS()
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = cfg
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(node, "samples.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SIM_URL="+srv.URL, "NODE_EXTRA_CA_CERTS="+ca)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node samples.js: %v\n%s", err, stderr.String())
	}
	want := []struct{ sample, body string }{
		{"Create SIM", `{"message":"OK"}`},
		{"Retrieve SIM", `{"imsi":"238731234567890","msisdn":"4512345678","voice":true,"sms":true,"data":true,"data_throttling":false}`},
		{"Update SIM", `{"message":"OK"}`},
		{"Send SMS", `{"message":"OK"}`},
		{"Delete SIM", `{"message":"OK"}`},
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for i := 0; sc.Scan(); i++ {
		var got struct {
			Sample string
			Status int
			Body   string
		}
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil || i >= len(want) {
			t.Fatalf("line %d: %s", i, sc.Text())
		}
		if got.Sample != want[i].sample || got.Status != 200 || !jsonEqual(got.Body, want[i].body) {
			t.Errorf("%s = %d %s, want 200 %s", got.Sample, got.Status, got.Body, want[i].body)
		}
	}
	if n := len(s.SMS()); n != 1 {
		t.Errorf("the SMS sample sent %d messages", n)
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
