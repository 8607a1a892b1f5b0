package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/simulator"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

// nsAccounts holds the accounts scenario's Accounts and SIMs.
const nsAccounts = "accounts"

// AccountsResult is the two-account run: two accounts saturated at their own
// rate, and a third, unsaturated, whose spec change is timed meanwhile.
type AccountsResult struct {
	SIMsPerAccount int `json:"simsPerAccount"`
	// Rate is each account's client-side budget (calls per second).
	Rate float64 `json:"rate"`
	// Saturated are the two busy accounts.
	Saturated []AccountRun `json:"saturated"`
	// UnsaturatedChangeSeconds is how long a spec change in the third
	// account took from the patch to its PUT arriving at that organisation.
	UnsaturatedChangeSeconds float64 `json:"unsaturatedChangeSeconds"`
}

// AccountRun is one saturated account: how long its calls took against
// calls ÷ rate.
type AccountRun struct {
	Account      string  `json:"account"`
	Calls        int     `json:"calls"`
	Seconds      float64 `json:"seconds"`
	IdealSeconds float64 `json:"idealSeconds"`
	VsIdeal      float64 `json:"vsIdeal"`
}

// accountsRate is each account's budget in the scenario.
const accountsRate = 20

// accounts runs the scenario: organisations a, b and c are simulators of
// their own, each an Account with the same budget.
func (e *env) accounts(ctx context.Context) (*AccountsResult, error) {
	n := e.cfg.AccountSIMs
	orgs := map[string]*testutil.SimServer{}
	for _, name := range []string{"a", "b", "c"} {
		org, err := testutil.StartSimulator(simulator.Options{APIKey: "org-" + name + "-key"})
		if err != nil {
			return nil, err
		}
		defer org.Close()
		orgs[name] = org
		if err := e.createAccount(ctx, name, org); err != nil {
			return nil, err
		}
	}
	m, err := e.startManager(nsAccounts, "--sync-period=1h")
	if err != nil {
		return nil, err
	}
	defer m.stop()

	quiet := accountSIM("c", 0)
	if err := e.admin.Create(ctx, quiet); err != nil {
		return nil, err
	}
	if err := e.waitReady(ctx, nsAccounts, 1, 5*time.Minute, func(int) {}); err != nil {
		return nil, err
	}
	e.cfg.Log("accounts: %d SIMs in each of accounts a and b at %d calls/s each; a spec change in c meanwhile", n, accountsRate)
	start := time.Now()
	if err := e.parallel(ctx, 2*n, func(ctx context.Context, i int) error {
		return e.admin.Create(ctx, accountSIM([]string{"a", "b"}[i%2], i/2+1))
	}); err != nil {
		return nil, err
	}
	time.Sleep(time.Second) // both accounts are saturated now
	before := len(orgs["c"].Requests())
	patched := time.Now()
	if err := e.admin.Patch(ctx, quiet, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"voice":false}}`))); err != nil {
		return nil, err
	}
	change := math.NaN()
	for time.Since(patched) < time.Minute && math.IsNaN(change) {
		for _, r := range orgs["c"].Requests()[before:] {
			if r.Method == "PUT" {
				change = r.Time.Sub(patched).Seconds()
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.waitReady(ctx, nsAccounts, 2*n+1, 30*time.Minute, e.progress("accounts", 2*n+1)); err != nil {
		return nil, err
	}
	res := &AccountsResult{SIMsPerAccount: n, Rate: accountsRate, UnsaturatedChangeSeconds: change}
	for _, name := range []string{"a", "b"} {
		reqs := orgs[name].Requests()
		run := AccountRun{Account: name, Calls: len(reqs), IdealSeconds: float64(len(reqs)) / accountsRate}
		if len(reqs) > 0 {
			run.Seconds = reqs[len(reqs)-1].Time.Sub(start).Seconds()
			run.VsIdeal = run.Seconds / run.IdealSeconds
		}
		res.Saturated = append(res.Saturated, run)
	}
	e.cfg.Log("accounts: a %.1fs for %d calls (%.2f× calls ÷ rate), b %.1fs (%.2f×); c's spec change reached the API in %.2fs",
		res.Saturated[0].Seconds, res.Saturated[0].Calls, res.Saturated[0].VsIdeal, res.Saturated[1].Seconds, res.Saturated[1].VsIdeal,
		res.UnsaturatedChangeSeconds)
	return res, nil
}

// createAccount makes an Account and its key Secret for an organisation.
func (e *env) createAccount(ctx context.Context, name string, org *testutil.SimServer) error {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsAccounts, Name: "org-" + name},
		StringData: map[string]string{"apiKey": "org-" + name + "-key"}}
	acct := &v1alpha1.Account{ObjectMeta: metav1.ObjectMeta{Namespace: nsAccounts, Name: name}, Spec: v1alpha1.AccountSpec{
		APIURL: org.URL(), CABundle: string(org.CAPEM), Rate: accountsRate, Burst: 1,
		APIKeySecretRef: v1alpha1.SecretKeyReference{Name: secret.Name}}}
	for _, obj := range []client.Object{secret, acct} {
		if err := e.admin.Create(ctx, obj); err != nil {
			return fmt.Errorf("account %s: %w", name, err)
		}
	}
	return nil
}

func accountSIM(account string, i int) *v1alpha1.SIM {
	return &v1alpha1.SIM{
		ObjectMeta: metav1.ObjectMeta{Namespace: nsAccounts, Name: fmt.Sprintf("sim-%s-%06d", account, i)},
		Spec: v1alpha1.SIMSpec{IMSI: imsiOf(5, i), SIMSettings: v1alpha1.SIMSettings{Voice: ptr.To(true)},
			ManagedPolicies: v1alpha1.ManagedPolicies{AccountRef: &v1alpha1.AccountReference{Kind: "Account", Name: account}}},
	}
}
