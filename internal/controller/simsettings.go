package controller

import (
	"fmt"
	"strings"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// simSetting is one field of v1alpha1.SIMSettings with its wire field and
// the API's documented default for a new SIM. simSettings lists each field
// once; creating, comparing, updating and describing all go through it, and
// a test fails when a field of SIMSettings is missing from it.
type simSetting struct {
	name string // as in the manifest
	spec func(*v1alpha1.SIMSettings) **bool
	wire func(*onomondo.SIM) *bool
	def  bool
}

var simSettings = []simSetting{
	{"voice", func(s *v1alpha1.SIMSettings) **bool { return &s.Voice }, func(w *onomondo.SIM) *bool { return &w.Voice }, true},
	{"sms", func(s *v1alpha1.SIMSettings) **bool { return &s.SMS }, func(w *onomondo.SIM) *bool { return &w.SMS }, true},
	{"data", func(s *v1alpha1.SIMSettings) **bool { return &s.Data }, func(w *onomondo.SIM) *bool { return &w.Data }, true},
	{"dataThrottling", func(s *v1alpha1.SIMSettings) **bool { return &s.DataThrottling }, func(w *onomondo.SIM) *bool { return &w.DataThrottling }, false},
}

// settingsMatch is the one comparison: every setting the spec sets has that
// value in the observation. Unset settings are observed, not managed.
func settingsMatch(want, got v1alpha1.SIMSettings) bool {
	return len(simChanges(v1alpha1.SIMSpec{SIMSettings: want}, &v1alpha1.SIMObservation{SIMSettings: got})) == 0
}

// wireSettings is the body of a write: the spec's value of each managed
// setting, else the value last observed (late initialisation: an unmanaged
// setting keeps what the SIM has), else the API's default for a new SIM.
func wireSettings(spec v1alpha1.SIMSettings, observed *v1alpha1.SIMObservation) onomondo.SIM {
	var w onomondo.SIM
	for _, f := range simSettings {
		v := f.def
		if o := observedSetting(f, observed); o != nil {
			v = *o
		}
		if s := *f.spec(&spec); s != nil {
			v = *s
		}
		*f.wire(&w) = v
	}
	return w
}

func observedSetting(f simSetting, o *v1alpha1.SIMObservation) *bool {
	if o == nil {
		return nil
	}
	return *f.spec(&o.SIMSettings)
}

// observation is the status form of a SIM as the API reported or accepted it.
func observation(w *onomondo.SIM) *v1alpha1.SIMObservation {
	o := &v1alpha1.SIMObservation{IMSI: w.IMSI, MSISDN: normMSISDN(w.MSISDN)}
	for _, f := range simSettings {
		v := *f.wire(w)
		*f.spec(&o.SIMSettings) = &v
	}
	return o
}

// describeSettings prints observed settings, "voice=true sms=false …".
func describeSettings(s v1alpha1.SIMSettings) string {
	parts := make([]string, 0, len(simSettings))
	for _, f := range simSettings {
		v := "unknown"
		if p := *f.spec(&s); p != nil {
			v = fmt.Sprint(*p)
		}
		parts = append(parts, f.name+"="+v)
	}
	return strings.Join(parts, " ")
}

// normMSISDN drops the optional "+": the API and the claims compare digits.
func normMSISDN(m string) string { return strings.TrimPrefix(m, "+") }
