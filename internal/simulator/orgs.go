package simulator

import (
	"net/http"
	"strings"
)

// Orgs serves several organisations, each a Simulator with its own key and
// its own SIM table, on one address: a request goes to the organisation
// whose key its Authorization header carries (401 for any other key), as
// the hosted API serves each account's key its own SIMs.
type Orgs map[string]*Simulator

// ServeHTTP routes by the Authorization header.
func (o Orgs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if sim, ok := o[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]; ok {
		sim.ServeHTTP(w, r)
		return
	}
	writeErr(w, http.StatusUnauthorized, "unauthorized", "missing or wrong Authorization header")
}
