package onomondo

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error codes the API documents. The client surfaces any other code the API
// sends unchanged; these constants only name the known ones.
const (
	CodeIMSIInvalid                = "imsi_invalid"
	CodeMSISDNInvalid              = "msisdn_invalid"
	CodeVoiceInvalid               = "voice_invalid"
	CodeSMSInvalid                 = "sms_invalid"
	CodeDataInvalid                = "data_invalid"
	CodeDataThrottlingInvalid      = "data_throttling_invalid"
	CodeIMSIForbidden              = "imsi_forbidden"
	CodeIMSINotFound               = "imsi_not_found"
	CodeSIMNotFound                = "sim_not_found"
	CodeIMSIConflict               = "imsi_conflict"
	CodeDataDataThrottlingConflict = "data_data_throttling_conflict"
	CodeToInvalid                  = "to_invalid"
	CodeFromInvalid                = "from_invalid"
	CodeTextInvalid                = "text_invalid"

	// Codes the doc leaves undocumented; the simulator uses these.
	CodeUnauthorized       = "unauthorized"
	CodeIDInvalid          = "id_invalid"
	CodeConfigInvalid      = "config_invalid"
	CodeConnectorNotFound  = "connector_not_found"
	CodeConnectorConflict  = "connector_conflict"
	CodeRateLimited        = "rate_limited"
	CodeInternalError      = "internal_error"
	CodeServiceUnavailable = "service_unavailable"
)

// APIError is an answer from the API with a non-2xx status.
type APIError struct {
	// Method and Route name the call; Route is the template (/sim/:id), never
	// the raw identifier.
	Method, Route string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the API's error code (e.g. imsi_invalid), empty if it sent none.
	Code string
	// Message is the API's message or, for a body that is not JSON, its start.
	Message string
	// RetryAfter is from Retry-After or x-ratelimit-reset, zero if absent,
	// capped by the client's MaxRetryAfter.
	RetryAfter time.Duration
	// RetryAfterAsked is what the API asked for when the cap cut it, else zero.
	RetryAfterAsked time.Duration
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = strings.ToLower(strings.ReplaceAll(http.StatusText(e.StatusCode), " ", "_"))
	}
	s := fmt.Sprintf("onomondo: %s %s: %d %s", e.Method, e.Route, e.StatusCode, code)
	if e.Message != "" && e.Message != e.Code {
		s += ": " + e.Message
	}
	if e.RetryAfterAsked > 0 {
		s += fmt.Sprintf(" (the API asked to wait %s; waiting %s, the operator's cap)", e.RetryAfterAsked.Round(time.Second), e.RetryAfter)
	}
	return s
}

// RedirectError is a 3xx answer. The client follows no redirect: the key
// goes only to the configured API URL.
type RedirectError struct {
	Method, Route string
	StatusCode    int
	// Target is the redirect's scheme and host.
	Target string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("onomondo: %s %s: %d redirect to %s, not followed: the API key is sent only to the configured API URL; fix the URL",
		e.Method, e.Route, e.StatusCode, e.Target)
}

// InvalidResponseError is a 2xx answer that is not what was asked for: no
// body, null, cut off at the read limit, not JSON, or another object than the
// one addressed. It is no observation of anything.
type InvalidResponseError struct {
	Method, Route string
	Reason        string
}

func (e *InvalidResponseError) Error() string {
	return fmt.Sprintf("onomondo: %s %s: invalid answer: %s", e.Method, e.Route, e.Reason)
}

// TransportError is a failure to get any answer from the API.
type TransportError struct {
	Method, Route string
	// Written reports whether the whole request had been sent when it failed:
	// if it had, the API may have applied it.
	Written bool
	Err     error
}

func (e *TransportError) Error() string {
	state := "before the request was sent"
	if e.Written {
		state = "after the request was sent"
	}
	return fmt.Sprintf("onomondo: %s %s: %s: %v", e.Method, e.Route, state, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// BudgetError means the client's own rate limit refused to send in time.
type BudgetError struct {
	Method, Route string
	Err           error
	// RetryAfter is how long the API's rate limit still holds calls (zero
	// when the client's own budget refused).
	RetryAfter time.Duration
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("onomondo: %s %s: client-side API budget: %v", e.Method, e.Route, e.Err)
}

func (e *BudgetError) Unwrap() error { return e.Err }

// IsCode reports whether err is an APIError with the given code.
func IsCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}

// MissingKeyError means the client has no API key to send: nothing was sent.
type MissingKeyError struct{ Method, Route string }

func (e *MissingKeyError) Error() string {
	return fmt.Sprintf("onomondo: %s %s: no API key configured (the key Secret is missing, unreadable or empty); nothing was sent", e.Method, e.Route)
}
