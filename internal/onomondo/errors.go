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

// Class says what a caller may do about an error.
type Class int

const (
	// ClassRetryable errors may go away by themselves: back off and try again.
	ClassRetryable Class = iota
	// ClassTerminal errors only a change of the request can fix.
	ClassTerminal
)

func (c Class) String() string {
	if c == ClassTerminal {
		return "terminal"
	}
	return "retryable"
}

// Delivery says whether a failed write can have taken effect in the API.
type Delivery int

const (
	// MaybeApplied: the request was written and no answer proves it was
	// refused (timeout, reset, 500, a dropped response).
	MaybeApplied Delivery = iota
	// NotApplied: the request definitely did not take effect (never sent,
	// connection refused, 429, a 4xx validation answer, the local budget).
	NotApplied
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
	// RetryAfter is from Retry-After or x-ratelimit-reset, zero if absent.
	RetryAfter time.Duration
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
	return s
}

// Class is terminal for 4xx answers other than 408 and 429, retryable otherwise.
func (e *APIError) Class() Class {
	if e.StatusCode >= 400 && e.StatusCode < 500 &&
		e.StatusCode != http.StatusTooManyRequests && e.StatusCode != http.StatusRequestTimeout {
		return ClassTerminal
	}
	return ClassRetryable
}

// Delivery is NotApplied for 4xx answers (the API refused the request) and
// MaybeApplied for 5xx, where the server may have failed after writing.
func (e *APIError) Delivery() Delivery {
	if e.StatusCode < 500 {
		return NotApplied
	}
	return MaybeApplied
}

// TransportError is a failure to get any answer from the API.
type TransportError struct {
	Method, Route string
	// Written reports whether the whole request had been sent when it failed.
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

// Class of a transport error is always retryable.
func (e *TransportError) Class() Class { return ClassRetryable }

// Delivery is NotApplied only when the request never left the client.
func (e *TransportError) Delivery() Delivery {
	if e.Written {
		return MaybeApplied
	}
	return NotApplied
}

// BudgetError means the client's own rate limit refused to send in time.
type BudgetError struct {
	Method, Route string
	Err           error
}

func (e *BudgetError) Error() string {
	return fmt.Sprintf("onomondo: %s %s: client-side API budget: %v", e.Method, e.Route, e.Err)
}

func (e *BudgetError) Unwrap() error { return e.Err }

// Class of a budget error is retryable.
func (e *BudgetError) Class() Class { return ClassRetryable }

// Delivery of a budget error is NotApplied: nothing was sent.
func (e *BudgetError) Delivery() Delivery { return NotApplied }

type classed interface {
	Class() Class
	Delivery() Delivery
}

// ClassOf returns an error's class; errors this package did not make are retryable.
func ClassOf(err error) Class {
	var c classed
	if errors.As(err, &c) {
		return c.Class()
	}
	return ClassRetryable
}

// IsTerminal reports whether only a change of the request can fix err.
func IsTerminal(err error) bool { return err != nil && ClassOf(err) == ClassTerminal }

// IsRetryable reports whether err may go away by itself.
func IsRetryable(err error) bool { return err != nil && ClassOf(err) == ClassRetryable }

// DefinitelyNotApplied reports whether the failed request certainly had no
// effect in the API, so that sending it again cannot duplicate it.
func DefinitelyNotApplied(err error) bool {
	var c classed
	return errors.As(err, &c) && c.Delivery() == NotApplied
}

// MayHaveBeenApplied is the opposite of DefinitelyNotApplied.
func MayHaveBeenApplied(err error) bool { return err != nil && !DefinitelyNotApplied(err) }

// IsCode reports whether err is an APIError with the given code.
func IsCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}

// IsNotFound reports whether the object the call addressed does not exist.
func IsNotFound(err error) bool {
	var e *APIError
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound &&
		(e.Code == CodeSIMNotFound || e.Code == CodeConnectorNotFound || e.Code == "")
}

// IsRateLimited reports whether err is the API's 429 or the client's own
// budget: a condition of the whole client, not of the object called about.
func IsRateLimited(err error) bool {
	var apiErr *APIError
	var budget *BudgetError
	return (errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusTooManyRequests) || errors.As(err, &budget)
}

// RetryAfter is how long the API asked the caller to wait, zero if it did not.
func RetryAfter(err error) time.Duration {
	var e *APIError
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
