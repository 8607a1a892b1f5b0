package controller

import (
	"strings"
	"testing"

	"github.com/sim-operator/sim-operator/internal/onomondo"
)

func TestRedactionHidesIdentifiersFromLogsAndEventsOnlyWhenAskedFor(t *testing.T) {
	line := "created SIM 238730000000001 for +4561000001 (connector conn-1, 3 retries)"
	if got := redact(line); got != line {
		t.Fatalf("redaction off changed the line: %q", got)
	}
	RedactIdentifiers(true)
	defer RedactIdentifiers(false)
	got := redact(line)
	for _, id := range []string{"238730000000001", "4561000001"} {
		if strings.Contains(got, id) || strings.Contains(got, id[:6]) {
			t.Errorf("redacted line %q still shows %s", got, id)
		}
	}
	if !strings.Contains(got, "conn-1") || !strings.Contains(got, "3 retries") {
		t.Errorf("redaction took more than identifiers: %q", got)
	}
	kv := redactValues("imsi", "238730000000001", "msisdn", "", "attempt", "abc")
	if kv[1] == "238730000000001" || kv[0] != "imsi" || kv[5] != "abc" {
		t.Errorf("log values %q", kv)
	}
}

func TestAHostileCodeMakesNoReason(t *testing.T) {
	for code, want := range map[string]string{
		"imsi_invalid":                     "ImsiInvalid",
		"bad code! <script>":               "BadRequest",
		"9lives":                           "BadRequest",
		strings.Repeat("long_", 30):        "BadRequest",
		"ünïcode":                          "BadRequest",
		"data_data_throttling_conflict":    "DataThrottlingConflict",
		"":                                 "BadRequest",
		"rate_limited_for_a_while_perhaps": "RateLimitedForAWhilePerhaps",
	} {
		if got := answerReason(&onomondo.APIError{StatusCode: 400, Code: code}); got != want {
			t.Errorf("reason of %q = %q, want %q", code, got, want)
		}
	}
	if m := clip(strings.Repeat("é", 5000)); len(m) > maxMessage || !strings.HasSuffix(m, "…") {
		t.Errorf("clip left %d bytes", len(m))
	}
}
