package controller

import (
	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// The retry policy: when a failure is tried again, from its class and the
// resource's management policy alone.

// retry is when a failed resource is tried again.
type retry int

const (
	retryBackoff      retry = iota // exponential backoff, at least Retry-After
	retryThrottled                 // after Retry-After, without growing the backoff
	retryOnSpecChange              // not until the generation changes
	retryNextSync                  // at the next sync period (reading is harmless)
	retryOnRelease                 // when another resource lets an identifier go (a watch wakes it)
)

// retryOf decides retrying from the policy and the error's class alone. A
// terminal error stops a managed resource until its spec changes; an
// observed one keeps reading every sync period, since a read changes nothing.
func retryOf(policy v1alpha1.ManagementPolicy, f failure) retry {
	switch {
	case f.waitsForRelease:
		return retryOnRelease
	case f.terminal && policy == v1alpha1.ManagementPolicyObserveOnly:
		return retryNextSync
	case f.terminal:
		return retryOnSpecChange
	case f.rateLimited:
		return retryThrottled
	}
	return retryBackoff
}
