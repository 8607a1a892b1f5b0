// Package testutil starts the simulator over TLS on loopback for tests and
// benchmarks, with a client that trusts it.
package testutil

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sim-operator/sim-operator/internal/onomondo"
	"github.com/sim-operator/sim-operator/internal/simulator"
)

// APIKey is the key the test simulator accepts.
const APIKey = "test-key-0123456789"

// SimServer is a simulator served over TLS on 127.0.0.1.
type SimServer struct {
	*simulator.Simulator
	Server *httptest.Server
	CAPEM  []byte
	// Orgs are the other organisations served on the same address, by key.
	Orgs map[string]*simulator.Simulator
}

// StartSimulator serves a new simulator over TLS; Close stops it. Each of
// otherKeys is one more organisation, with its own SIM table, on the same
// address (simulator.Orgs).
func StartSimulator(opts simulator.Options, otherKeys ...string) (*SimServer, error) {
	if opts.APIKey == "" {
		opts.APIKey = APIKey
	}
	sim := simulator.New(opts)
	var handler http.Handler = sim
	orgs := map[string]*simulator.Simulator{}
	if len(otherKeys) > 0 {
		all := simulator.Orgs{opts.APIKey: sim}
		for _, k := range otherKeys {
			o := opts
			o.APIKey = k
			orgs[k] = simulator.New(o)
			all[k] = orgs[k]
		}
		handler = all
	}
	srv := httptest.NewUnstartedServer(handler)
	cfg, caPEM, err := simulator.SelfSignedTLS()
	if err != nil {
		return nil, err
	}
	srv.TLS = cfg
	srv.StartTLS()
	return &SimServer{Simulator: sim, Server: srv, CAPEM: caPEM, Orgs: orgs}, nil
}

// Close stops the server.
func (s *SimServer) Close() { s.Server.Close() }

// URL is the server's base URL.
func (s *SimServer) URL() string { return s.Server.URL }

// Client returns a client for the server; cfg's URL and CA are filled in,
// and its rate defaults to unlimited so tests do not wait on the budget.
func (s *SimServer) Client(cfg onomondo.Config) (*onomondo.Client, error) {
	cfg.BaseURL = s.URL()
	cfg.CAPEM = s.CAPEM
	if cfg.APIKey == "" {
		cfg.APIKey = APIKey
	}
	if cfg.Rate == 0 {
		cfg.Rate = -1
	}
	return onomondo.New(cfg)
}

// Start is StartSimulator for a test: it fails the test on error and closes on cleanup.
func Start(t testing.TB, opts simulator.Options) *SimServer {
	t.Helper()
	s, err := StartSimulator(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}
