package controller

import "github.com/sim-operator/sim-operator/internal/accounts"

// The account registry and the one reader of API keys live in
// internal/accounts; the controllers name them as their own.

// Accounts resolves a resource's account to its API client.
type Accounts = accounts.Accounts

// accountError says why a resource's account (or a Secret it needs) cannot
// be used; no call is made.
type accountError = accounts.Error

// Reasons a resource's account cannot be used.
const (
	ReasonAccountNotFound   = accounts.ReasonAccountNotFound
	ReasonAccountNotAllowed = accounts.ReasonAccountNotAllowed
	ReasonSecretNotFound    = accounts.ReasonSecretNotFound
	ReasonSecretForbidden   = accounts.ReasonSecretForbidden
	ReasonAccountInvalid    = accounts.ReasonAccountInvalid
)
