package controller

import (
	"fmt"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// What kubectl sim shares with the reconcilers, so that the plugin and the
// operator compare, normalise and describe alike: one list of settings, one
// comparison, one normalisation.

// SIMObservation is the status form of a SIM as the API reports it.
func SIMObservation(s *onomondo.SIM) *v1alpha1.SIMObservation { return observation(s) }

// SIMChanges lists "field: observed → wanted" for each field the spec sets
// (settings, and the number it names) that the observed SIM has otherwise;
// empty when the SIM is up to date in the operator's sense.
func SIMChanges(spec v1alpha1.SIMSpec, got *v1alpha1.SIMObservation) []string {
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

// ConnectorConfigMatches reports whether the API's body has everything the
// spec's config says (keys the API adds are not drift), as the operator
// compares them.
func ConnectorConfigMatches(want, got []byte) bool {
	w, err1 := decodeJSON(want)
	g, err2 := decodeJSON(got)
	return err1 == nil && err2 == nil && subsetEqual(w, g)
}

// NormMSISDN drops the optional "+", as the operator compares numbers.
func NormMSISDN(m string) string { return normMSISDN(m) }

// CurrentSettingsOf is the settings of a SIM of the current API, as a spec
// that manages each of them at the value the API reports (kubectl sim import).
func CurrentSettingsOf(c *onomondo.CurrentSIM) v1alpha1.CurrentSettings {
	return currentObservation(c).CurrentSettings
}

// CurrentSIMObservation is the status form of a SIM of the current API.
func CurrentSIMObservation(c *onomondo.CurrentSIM) *v1alpha1.SIMObservation {
	return currentObservation(c)
}
