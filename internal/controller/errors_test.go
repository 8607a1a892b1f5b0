package controller

import (
	"errors"
	"testing"

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

func TestARejectedKeyIsNotTerminal(t *testing.T) {
	if isTerminal(&onomondo.APIError{StatusCode: 401, Code: onomondo.CodeUnauthorized}) {
		t.Fatal("401 unauthorized must be retried: a new key fixes it without a spec change")
	}
	if !isTerminal(&onomondo.APIError{StatusCode: 403, Code: onomondo.CodeIMSIForbidden}) {
		t.Fatal("403 imsi_forbidden must be terminal")
	}
}
