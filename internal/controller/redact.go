package controller

import (
	"regexp"
	"sync/atomic"
)

// redacting hides IMSIs, MSISDNs and SMS recipients from logs and events
// (--redact-identifiers) for fleets that count them as personal data.
// Status keeps them: it is where an owner looks a SIM up.
var redacting atomic.Bool

// RedactIdentifiers turns redaction of identifiers in logs and events on or
// off, for the whole process.
func RedactIdentifiers(on bool) { redacting.Store(on) }

// identifierPattern matches what may be an IMSI, an MSISDN, an ICCID or a
// phone number: six digits or more, with an optional "+".
var identifierPattern = regexp.MustCompile(`\+?[0-9]{6,}`)

// redact masks every identifier in s, keeping its last two digits (enough
// to tell two lines apart, too few to name a subscriber), when redaction is on.
func redact(s string) string {
	if !redacting.Load() {
		return s
	}
	return identifierPattern.ReplaceAllStringFunc(s, func(id string) string { return "<redacted…" + id[len(id)-2:] + ">" })
}

// redactValues redacts the string values of log key/value pairs.
func redactValues(kv ...any) []any {
	if !redacting.Load() {
		return kv
	}
	out := make([]any, len(kv))
	for i, v := range kv {
		if s, ok := v.(string); ok && i%2 == 1 {
			v = redact(s)
		}
		out[i] = v
	}
	return out
}
