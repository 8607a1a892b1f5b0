package controller

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// Reasons the operator gives besides the API's own codes.
const (
	// ReasonCredentialsRejected: the API refused the key (every 401, and
	// every 403 other than the SIM-level imsi_forbidden). Never terminal: a
	// new key in the Secret fixes it, and resources retry at once when it changes.
	ReasonCredentialsRejected = "CredentialsRejected"
	// ReasonCredentialsMissing: the operator has no API key (its Secret is
	// missing, unreadable or empty); nothing is sent until one appears.
	ReasonCredentialsMissing = "CredentialsMissing"
	// ReasonIdentityMismatch: the spec names a SIM other than the bound one.
	ReasonIdentityMismatch = "IdentityMismatch"
	// ReasonResponseInvalid: a 2xx answer that is not the object asked for
	// (no body, null, cut off, not JSON, another identifier); retried.
	ReasonResponseInvalid = "ResponseInvalid"
	// ReasonAPIRedirected: the API URL answered with a redirect, which the
	// operator never follows (the key would go elsewhere); retried.
	ReasonAPIRedirected = "APIRedirected"
	// ReasonAlreadyGone: a deletion found nothing to delete in the API.
	ReasonAlreadyGone = "AlreadyGone"
	// ReasonResponseLost: the request went out, no answer came back.
	ReasonResponseLost = "ResponseLost"
	// ReasonAPIUnreachable: no connection to the API; nothing was sent.
	ReasonAPIUnreachable = "APIUnreachable"
	// ReasonRateLimited: the API's rate limit, or the client's own budget,
	// holds the call; nothing was sent.
	ReasonRateLimited = "RateLimited"
	// ReasonReconcileError: a failure that is not the API's (the apiserver, a bug).
	ReasonReconcileError = "ReconcileError"
)

// reasonOverrides shortens codes whose CamelCase form would read badly.
var reasonOverrides = map[string]string{
	onomondo.CodeDataDataThrottlingConflict: "DataThrottlingConflict",
}

// failure is everything the controllers decide from an error, in one place:
// the condition reason, whether only a spec change can fix it, whether the
// call certainly had no effect in the API, and when to come back.
type failure struct {
	reason string
	// terminal: only a spec change can fix it; no retry for this generation.
	terminal bool
	// notApplied: the call certainly had no effect (safe to send again).
	notApplied bool
	// rateLimited: the API's 429 or the client's own budget: a condition of
	// the whole client, not of the object called about.
	rateLimited bool
	// credentials: the API refused the key, not the request.
	credentials bool
	// retryAfter is how long the API asked the caller to wait.
	retryAfter time.Duration
	// waitsForRelease: another resource holds what the spec asks for; the
	// change goes ahead when it lets go.
	waitsForRelease bool
}

// classify is the one owner of error classes. The client reports facts (the
// HTTP status, the API's code, whether the request was written, Retry-After);
// this turns them into the decisions above.
func classify(err error) failure {
	var (
		spec      *specError
		account   *accountError
		noKey     *onomondo.MissingKeyError
		apiErr    *onomondo.APIError
		transport *onomondo.TransportError
		budget    *onomondo.BudgetError
		invalid   *onomondo.InvalidResponseError
		redirect  *onomondo.RedirectError
	)
	var (
		requested *requestedError
		inUse     *inUseError
	)
	switch {
	case errors.As(err, &inUse):
		// Not applied, and not the spec's fault: others still use the
		// object. Retried with backoff until they leave it.
		return failure{reason: ReasonInUse, notApplied: true}
	case errors.As(err, &requested):
		return failure{reason: ReasonIdentityMismatch, notApplied: true, waitsForRelease: true}
	case errors.As(err, &spec):
		return failure{reason: spec.reason, terminal: true, notApplied: true}
	case errors.As(err, &account):
		return failure{reason: account.Reason, terminal: account.Terminal, notApplied: true,
			credentials: account.Reason == ReasonSecretNotFound || account.Reason == ReasonSecretForbidden}
	case errors.As(err, &noKey):
		return failure{reason: ReasonCredentialsMissing, notApplied: true, credentials: true}
	case errors.As(err, &apiErr):
		return classifyAnswer(apiErr)
	case errors.As(err, &transport):
		if transport.Written {
			return failure{reason: ReasonResponseLost}
		}
		return failure{reason: ReasonAPIUnreachable, notApplied: true}
	case errors.As(err, &budget):
		return failure{reason: ReasonRateLimited, notApplied: true, rateLimited: true, retryAfter: budget.RetryAfter}
	case errors.As(err, &invalid):
		// The API answered, but not with what was asked: no observation; a
		// later read may do better.
		return failure{reason: ReasonResponseInvalid}
	case errors.As(err, &redirect):
		// Not followed, so not applied where it was sent (a 303 answers a
		// request that was processed); a fixed URL (an Account change) retries.
		return failure{reason: ReasonAPIRedirected, notApplied: redirect.StatusCode != 303}
	}
	return failure{reason: ReasonReconcileError}
}

// classifyAnswer classes an answer with a non-2xx status. 4xx answers were
// refused (not applied); 5xx may have been applied. 4xx are terminal except
// 408, 429, credentials, and a 404 that does not say what was not found (a
// proxy or a wrong base path: the object may well exist).
func classifyAnswer(e *onomondo.APIError) failure {
	f := failure{reason: answerReason(e), notApplied: e.StatusCode < 500, retryAfter: e.RetryAfter}
	switch {
	case e.StatusCode == http.StatusUnauthorized,
		e.StatusCode == http.StatusForbidden && e.Code != onomondo.CodeIMSIForbidden:
		f.reason, f.credentials = ReasonCredentialsRejected, true
	case e.StatusCode == http.StatusTooManyRequests:
		f.rateLimited = true
	case e.StatusCode == http.StatusNotFound && !goneCode(e.Code) && e.Code != onomondo.CodeIMSINotFound:
	case e.StatusCode == http.StatusRequestTimeout:
	case e.StatusCode >= 400 && e.StatusCode < 500:
		f.terminal = true
	}
	return f
}

// answerReason is the API's code in CamelCase (imsi_forbidden →
// ImsiForbidden), else the HTTP status text (ServiceUnavailable). A code
// that makes no valid reason (a condition's reason is a letter, then letters
// and digits, here at most 64) falls back to the status text: the API's
// answer must never make the status write fail.
func answerReason(e *onomondo.APIError) string {
	if r, ok := reasonOverrides[e.Code]; ok {
		return r
	}
	if r := camel(e.Code); validReason(r) {
		return r
	}
	if r := strings.ReplaceAll(http.StatusText(e.StatusCode), " ", ""); r != "" {
		return r
	}
	return "HTTPError"
}

// Reason turns an error into the condition reason the operator gives it:
// Duplicate<Kind> for another resource's claim, an account's or a spec's
// refusal (AccountNotFound, NotInEdition, …), the API's code in CamelCase,
// else the HTTP status text, else what went wrong on the way
// (APIUnreachable, ResponseLost), CredentialsRejected for a refused key.
// kubectl sim says the same.
func Reason(err error) string {
	var claimed *claimedError
	if errors.As(err, &claimed) {
		return "Duplicate" + claimed.kind
	}
	return classify(err).reason
}

// credentialsReason: a failure that a new API key may fix.
func credentialsReason(reason string) bool {
	return reason == ReasonCredentialsRejected || reason == ReasonCredentialsMissing
}

// goneCode: the API says the object addressed does not exist.
func goneCode(code string) bool {
	switch code {
	case onomondo.CodeSIMNotFound, onomondo.CodeConnectorNotFound, "network_whitelist_not_found", "webhook_not_found":
		return true
	}
	return false
}

// isGone reports whether the API said the object does not exist: only its
// own not-found codes count. A bare 404 (a proxy, a wrong base path) does not.
func isGone(err error) bool {
	var e *onomondo.APIError
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound && goneCode(e.Code)
}

// isGoneForDeletion: a deletion also ends on imsi_not_found (the IMSI is not
// in the account's inventory, so there is nothing left to delete).
func isGoneForDeletion(err error) bool {
	return isGone(err) || onomondo.IsCode(err, onomondo.CodeIMSINotFound)
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

// maxReason bounds reasons made from the API's codes.
const maxReason = 64

// validReason: an ASCII letter, then ASCII letters and digits, at most
// maxReason long (a subset of the condition reason's pattern).
func validReason(r string) bool {
	if r == "" || len(r) > maxReason {
		return false
	}
	for i, c := range []byte(r) {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// maxMessage bounds the messages of conditions, status and events: an
// error's text may carry what the API chose to send.
const maxMessage = 1024

// clip cuts s to at most maxMessage bytes of valid UTF-8.
func clip(s string) string { return onomondo.Truncate(s, maxMessage) }

// errorStatus is the status record of an error.
func errorStatus(err error) *v1alpha1.APIErrorStatus {
	s := &v1alpha1.APIErrorStatus{Message: clip(err.Error()), Terminal: classify(err).terminal}
	var apiErr *onomondo.APIError
	if errors.As(err, &apiErr) {
		s.Code = apiErr.Code
		s.HTTPStatus = int32(apiErr.StatusCode)
	}
	return s
}

// requestedError: the spec asks the bound object to take an identifier
// another resource claims; nothing is sent until that one lets it go.
type requestedError struct{ msg string }

func (e *requestedError) Error() string { return e.msg }

// specError is a spec the operator refuses before calling the API: terminal,
// and certainly not applied.
type specError struct{ reason, msg string }

func (e *specError) Error() string { return e.msg }
