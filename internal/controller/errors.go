package controller

import (
	"errors"
	"net/http"
	"strings"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// reasonOverrides shortens codes whose CamelCase form would read badly.
var reasonOverrides = map[string]string{
	onomondo.CodeDataDataThrottlingConflict: "DataThrottlingConflict",
}

// Reason turns an API error into a condition reason: the API's code in
// CamelCase (imsi_forbidden → ImsiForbidden), else the HTTP status text
// (ServiceUnavailable), else what went wrong on the way (APIUnreachable).
func Reason(err error) string {
	var spec *specError
	if errors.As(err, &spec) {
		return spec.reason
	}
	var apiErr *onomondo.APIError
	var transport *onomondo.TransportError
	var budget *onomondo.BudgetError
	switch {
	case errors.As(err, &apiErr) && apiErr.Code != "":
		if r, ok := reasonOverrides[apiErr.Code]; ok {
			return r
		}
		return camel(apiErr.Code)
	case errors.As(err, &apiErr):
		if r := strings.ReplaceAll(http.StatusText(apiErr.StatusCode), " ", ""); r != "" {
			return r
		}
		return "HTTPError"
	case errors.As(err, &transport) && transport.Written:
		return "ResponseLost"
	case errors.As(err, &transport):
		return "APIUnreachable"
	case errors.As(err, &budget):
		return "RateLimited"
	}
	return "ReconcileError"
}

func camel(code string) string {
	var b strings.Builder
	for _, part := range strings.Split(code, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// isTerminal is the client's class, except that a rejected API key is not:
// a new key in the Secret fixes it without a spec change.
func isTerminal(err error) bool {
	return onomondo.IsTerminal(err) && !onomondo.IsCode(err, onomondo.CodeUnauthorized)
}

// errorStatus is the status record of an API error.
func errorStatus(err error) *v1alpha1.APIErrorStatus {
	s := &v1alpha1.APIErrorStatus{Message: err.Error(), Terminal: isTerminal(err)}
	var apiErr *onomondo.APIError
	if errors.As(err, &apiErr) {
		s.Code = apiErr.Code
		s.HTTPStatus = int32(apiErr.StatusCode)
	}
	return s
}

// specError is a spec the operator refuses before calling the API: terminal,
// and certainly not applied.
type specError struct{ reason, msg string }

func (e *specError) Error() string { return e.msg }

// Class implements the client's error classification: terminal.
func (e *specError) Class() onomondo.Class { return onomondo.ClassTerminal }

// Delivery implements the client's delivery verdict: nothing was sent.
func (e *specError) Delivery() onomondo.Delivery { return onomondo.NotApplied }
