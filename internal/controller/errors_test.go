package controller

import (
	"errors"
	"testing"
	"time"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

func TestReasonIsTheAPICodeInCamelCase(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&onomondo.APIError{StatusCode: 400, Code: onomondo.CodeIMSIInvalid}, "ImsiInvalid"},
		{&onomondo.APIError{StatusCode: 400, Code: onomondo.CodeMSISDNInvalid}, "MsisdnInvalid"},
		{&onomondo.APIError{StatusCode: 400, Code: onomondo.CodeVoiceInvalid}, "VoiceInvalid"},
		{&onomondo.APIError{StatusCode: 400, Code: onomondo.CodeSMSInvalid}, "SmsInvalid"},
		{&onomondo.APIError{StatusCode: 400, Code: onomondo.CodeDataInvalid}, "DataInvalid"},
		{&onomondo.APIError{StatusCode: 400, Code: onomondo.CodeDataThrottlingInvalid}, "DataThrottlingInvalid"},
		{&onomondo.APIError{StatusCode: 403, Code: onomondo.CodeIMSIForbidden}, "ImsiForbidden"},
		{&onomondo.APIError{StatusCode: 404, Code: onomondo.CodeIMSINotFound}, "ImsiNotFound"},
		{&onomondo.APIError{StatusCode: 404, Code: onomondo.CodeSIMNotFound}, "SimNotFound"},
		{&onomondo.APIError{StatusCode: 409, Code: onomondo.CodeIMSIConflict}, "ImsiConflict"},
		{&onomondo.APIError{StatusCode: 409, Code: onomondo.CodeDataDataThrottlingConflict}, "DataThrottlingConflict"},
		{&onomondo.APIError{StatusCode: 400, Code: onomondo.CodeToInvalid}, "ToInvalid"},
		{&onomondo.APIError{StatusCode: 400, Code: onomondo.CodeFromInvalid}, "FromInvalid"},
		{&onomondo.APIError{StatusCode: 400, Code: onomondo.CodeTextInvalid}, "TextInvalid"},
		{&onomondo.APIError{StatusCode: 503}, "ServiceUnavailable"},
		{&onomondo.APIError{StatusCode: 429}, "TooManyRequests"},
		{&onomondo.APIError{StatusCode: 401, Code: onomondo.CodeUnauthorized}, "CredentialsRejected"},
		{&onomondo.APIError{StatusCode: 599}, "HTTPError"},
		{&onomondo.TransportError{Written: true, Err: errors.New("EOF")}, "ResponseLost"},
		{&onomondo.TransportError{Err: errors.New("connection refused")}, "APIUnreachable"},
		{&onomondo.BudgetError{Err: errors.New("deadline")}, "RateLimited"},
		{errors.New("other"), "ReconcileError"},
	}
	for _, tc := range cases {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestClassifyDecidesRetryFromTheAnswer(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want failure
	}{
		{"a refused request is terminal and not applied",
			&onomondo.APIError{StatusCode: 400, Code: onomondo.CodeVoiceInvalid},
			failure{reason: "VoiceInvalid", terminal: true, notApplied: true}},
		{"the SIM-level 403 is terminal",
			&onomondo.APIError{StatusCode: 403, Code: onomondo.CodeIMSIForbidden},
			failure{reason: "ImsiForbidden", terminal: true, notApplied: true}},
		{"401 is a credentials error, never terminal",
			&onomondo.APIError{StatusCode: 401, Code: onomondo.CodeUnauthorized},
			failure{reason: ReasonCredentialsRejected, notApplied: true, credentials: true}},
		{"401 without a code too",
			&onomondo.APIError{StatusCode: 401},
			failure{reason: ReasonCredentialsRejected, notApplied: true, credentials: true}},
		{"any other 403 is a credentials error",
			&onomondo.APIError{StatusCode: 403, Code: "key_revoked"},
			failure{reason: ReasonCredentialsRejected, notApplied: true, credentials: true}},
		{"a 404 the API explains is terminal on create",
			&onomondo.APIError{StatusCode: 404, Code: onomondo.CodeIMSINotFound},
			failure{reason: "ImsiNotFound", terminal: true, notApplied: true}},
		{"a bare 404 (a proxy, a wrong base path) is retried",
			&onomondo.APIError{StatusCode: 404},
			failure{reason: "NotFound", notApplied: true}},
		{"a 404 with an unknown code is retried",
			&onomondo.APIError{StatusCode: 404, Code: "route_not_found"},
			failure{reason: "RouteNotFound", notApplied: true}},
		{"429 is rate limited with its Retry-After",
			&onomondo.APIError{StatusCode: 429, RetryAfter: 3 * time.Second},
			failure{reason: "TooManyRequests", notApplied: true, rateLimited: true, retryAfter: 3 * time.Second}},
		{"503 may have been applied",
			&onomondo.APIError{StatusCode: 503},
			failure{reason: "ServiceUnavailable"}},
		{"a lost answer may have been applied",
			&onomondo.TransportError{Written: true, Err: errors.New("EOF")},
			failure{reason: "ResponseLost"}},
		{"an unsent request was not applied",
			&onomondo.TransportError{Err: errors.New("connection refused")},
			failure{reason: "APIUnreachable", notApplied: true}},
		{"the local budget was not applied",
			&onomondo.BudgetError{Err: errors.New("deadline")},
			failure{reason: "RateLimited", notApplied: true, rateLimited: true}},
		{"no key: nothing sent, retried when one appears",
			&onomondo.MissingKeyError{Method: "GET", Route: onomondo.RouteSIM},
			failure{reason: ReasonCredentialsMissing, notApplied: true, credentials: true}},
		{"a refused spec is terminal and not applied",
			&specError{reason: ReasonIdentityMismatch, msg: "x"},
			failure{reason: ReasonIdentityMismatch, terminal: true, notApplied: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.err); got != tc.want {
				t.Errorf("classify(%v) = %+v, want %+v", tc.err, got, tc.want)
			}
		})
	}
}

func TestOnlyTheAPIsOwnNotFoundCodesMeanGone(t *testing.T) {
	for _, tc := range []struct {
		err                 error
		gone, goneForDelete bool
	}{
		{&onomondo.APIError{StatusCode: 404, Code: onomondo.CodeSIMNotFound}, true, true},
		{&onomondo.APIError{StatusCode: 404, Code: onomondo.CodeConnectorNotFound}, true, true},
		{&onomondo.APIError{StatusCode: 404, Code: onomondo.CodeIMSINotFound}, false, true},
		{&onomondo.APIError{StatusCode: 404}, false, false},
		{&onomondo.APIError{StatusCode: 404, Code: "not_found"}, false, false},
		{&onomondo.APIError{StatusCode: 410, Code: onomondo.CodeSIMNotFound}, false, false},
	} {
		if isGone(tc.err) != tc.gone || isGoneForDeletion(tc.err) != tc.goneForDelete {
			t.Errorf("%v: isGone %t, isGoneForDeletion %t; want %t, %t",
				tc.err, isGone(tc.err), isGoneForDeletion(tc.err), tc.gone, tc.goneForDelete)
		}
	}
}

func TestRetryDependsOnlyOnPolicyAndClass(t *testing.T) {
	manage, observe := v1alpha1.ManagementPolicyManage, v1alpha1.ManagementPolicyObserveOnly
	for _, tc := range []struct {
		policy v1alpha1.ManagementPolicy
		f      failure
		want   retry
	}{
		{manage, failure{terminal: true}, retryOnSpecChange},
		{observe, failure{terminal: true}, retryNextSync},
		{manage, failure{rateLimited: true}, retryThrottled},
		{observe, failure{rateLimited: true}, retryThrottled},
		{manage, failure{credentials: true}, retryBackoff},
		{manage, failure{}, retryBackoff},
	} {
		if got := retryOf(tc.policy, tc.f); got != tc.want {
			t.Errorf("retryOf(%s, %+v) = %d, want %d", tc.policy, tc.f, got, tc.want)
		}
	}
}
