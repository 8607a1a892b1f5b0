package controller

import (
	"fmt"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// Comparisons the kinds' observations are made of, and what kubectl sim
// import takes from the operator. kubectl sim diff reads and compares
// through the kinds themselves (ReadSIM, ReadConnector).

// simChanges lists "field: observed → wanted" for each field the spec sets
// (settings, and the number it names) that the observed SIM has otherwise;
// empty when the SIM is up to date in the operator's sense.
func simChanges(spec v1alpha1.SIMSpec, got *v1alpha1.SIMObservation) []string {
	var out []string
	if want := normMSISDN(spec.MSISDN); want != "" && want != got.MSISDN {
		out = append(out, fmt.Sprintf("msisdn: %q → %q", got.MSISDN, want))
	}
	for _, f := range simSettings {
		w, g := *f.spec(&spec.SIMSettings), *f.spec(&got.SIMSettings)
		if w != nil && (g == nil || *w != *g) {
			out = append(out, fmt.Sprintf("%s: %s → %t", f.name, describeBool(g), *w))
		}
	}
	return out
}

func describeBool(b *bool) string {
	if b == nil {
		return "unknown"
	}
	return fmt.Sprint(*b)
}

// connectorConfigMatches reports whether the API's body has everything the
// spec's config says (keys the API adds are not drift), as the operator
// compares them.
func connectorConfigMatches(want, got []byte) bool {
	w, err1 := decodeJSON(want)
	g, err2 := decodeJSON(got)
	return err1 == nil && err2 == nil && subsetEqual(w, g)
}

// NotInAccount: the API's own answer that the SIM is not in the account
// (sim_not_found, imsi_not_found). A bare 404 (a proxy, a wrong base
// path) is not one, for kubectl sim import as for the operator.
func NotInAccount(err error) bool { return isGoneForDeletion(err) }

// NormMSISDN drops the optional "+", as the operator compares numbers.
func NormMSISDN(m string) string { return normMSISDN(m) }

// SIMSpecOf is a spec naming a SIM of the seed's API by the IMSI and
// MSISDN it reports, managing each setting at the value it reports
// (kubectl sim import).
func SIMSpecOf(s *onomondo.SIM) v1alpha1.SIMSpec {
	o := observation(s)
	return v1alpha1.SIMSpec{IMSI: o.IMSI, MSISDN: o.MSISDN, SIMSettings: o.SIMSettings}
}

// CurrentSettingsOf is the settings of a SIM of the current API, as a spec
// that manages each of them at the value the API reports (kubectl sim import).
func CurrentSettingsOf(c *onomondo.CurrentSIM) v1alpha1.CurrentSettings {
	return currentObservation(c).CurrentSettings
}
