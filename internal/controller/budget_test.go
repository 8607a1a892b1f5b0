package controller

import "testing"

// The drift budget of a resource is its account's: --api-rate for the
// default account, the Account's rate once its client is made.
func TestADriftBudgetIsHalfOfTheResourcesAccountsRate(t *testing.T) {
	r := newSIMReconciler(nil, nil, nil, ManagedOptions{APIRate: -1})
	r.accounts = fakeAccounts{rates: map[string]float64{"Account/team/a": 4}}
	for _, c := range []struct {
		account string
		want    float64
	}{
		{"Account/team/a", 2},
		{"Account/team/not-used-yet", 0},
		{"", 0}, // --api-rate -1: unlimited
	} {
		if got := r.schedule.Budget(c.account); got != c.want {
			t.Errorf("drift budget of %q: %g, want %g", c.account, got, c.want)
		}
	}
	r = newSIMReconciler(nil, nil, nil, ManagedOptions{APIRate: 10})
	if got := r.schedule.Budget(""); got != 5 {
		t.Errorf("the default account's drift budget: %g, want half of --api-rate 10", got)
	}
}
