package schedule

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestScheduleSpreadsAFleetOverThePeriod(t *testing.T) {
	s := New(time.Hour, 0.1, time.Second, time.Minute)
	now := time.Unix(0, 0)
	s.now = func() time.Time { return now }
	buckets := make([]int, 10)
	for i := range 10000 {
		key := types.NamespacedName{Name: string(rune('a' + i%26)), Namespace: time.Duration(i).String()}
		d := s.Synced(key, "") // the first wait: anywhere in a whole period's width
		if d < 30*time.Minute || d >= 90*time.Minute {
			t.Fatalf("first wait %s outside [0.5, 1.5) periods", d)
		}
		buckets[int((d-30*time.Minute)/(6*time.Minute))]++
		if d := s.Synced(key, ""); d < 54*time.Minute || d > 66*time.Minute { // later: ±10%
			t.Fatalf("later wait %s outside ±10%%", d)
		}
	}
	for i, n := range buckets {
		if n < 800 || n > 1200 { // 1,000 expected in each tenth
			t.Fatalf("first waits are not spread evenly: bucket %d has %d of 10,000 (%v)", i, n, buckets)
		}
	}
}

func TestBackoffGrowsAndRateLimitsDoNot(t *testing.T) {
	s := New(time.Hour, 0.1, time.Second, 8*time.Second)
	key := types.NamespacedName{Name: "x"}
	var got []time.Duration
	for range 5 {
		got = append(got, s.Failed(key, "", 0))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff = %v, want %v", got, want)
		}
	}
	if d := s.Failed(key, "", 30*time.Second); d != 30*time.Second {
		t.Fatalf("backoff %s ignores the API's Retry-After of 30s", d)
	}
	if d := s.Throttled(key, "", 2*time.Second); d < 2*time.Second || d > 3*time.Second {
		t.Fatalf("throttled wait %s, want Retry-After plus up to half", d)
	}
	if d := s.Throttled(key, "", 5*time.Minute); d < 5*time.Minute || d > 5*time.Minute+maxThrottleSpread {
		t.Fatalf("throttled wait %s after a capped 5m hold, want at most %s more", d, maxThrottleSpread)
	}
	if d := s.Failed(key, "", 0); d != time.Second {
		t.Fatalf("after a rate limit the backoff restarts at 1s, got %s", d)
	}
}

func TestAResumedObjectIsCheckedWithinOnePeriodNotAtOnce(t *testing.T) {
	s := New(time.Hour, 0.1, time.Second, time.Minute)
	now := time.Unix(0, 0)
	s.now = func() time.Time { return now }
	inSync, unknown := types.NamespacedName{Name: "in-sync"}, types.NamespacedName{Name: "unknown"}
	if !s.Resume(unknown, "", false) {
		t.Fatal("an object not known to be in sync must be observed at once")
	}
	if s.Resume(inSync, "", true) {
		t.Fatal("an in-sync object was observed at once after a restart")
	}
	if d := s.Remaining(inSync); d > time.Hour {
		t.Fatalf("its check is %s away, beyond one period", d)
	}
	now = now.Add(time.Hour + time.Second)
	if !s.Resume(inSync, "", true) {
		t.Fatal("the resumed object was not due within one period")
	}
}

func TestOverdueIsTheLongestWaitPastDue(t *testing.T) {
	now := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	s := New(time.Minute, 0, time.Second, time.Minute)
	s.now = func() time.Time { return now }
	if s.Overdue() != 0 {
		t.Fatal("an empty schedule is overdue")
	}
	s.next[types.NamespacedName{Name: "a"}] = slot{at: now.Add(-3 * time.Second)}
	s.next[types.NamespacedName{Name: "b"}] = slot{at: now.Add(-10 * time.Second)}
	s.next[types.NamespacedName{Name: "c"}] = slot{at: now.Add(time.Hour)}
	if got := s.Overdue(); got != 10*time.Second {
		t.Fatalf("overdue = %s, want 10s", got)
	}
}

func TestAFleetTooLargeForTheBudgetStretchesTheDriftPeriodOnce(t *testing.T) {
	s := New(10*time.Second, 0, time.Second, time.Minute)
	s.Budget = func(string) float64 { return 5 } // half of a 10 calls/s budget
	var said []time.Duration
	s.OnStretch = func(_ string, effective time.Duration, _ int) { said = append(said, effective) }
	for i := range 40 { // 40 SIMs every 10 s is 4/s: within the share
		s.Synced(types.NamespacedName{Name: fmt.Sprint(i)}, "")
	}
	if s.Effective()[""] != 10*time.Second || len(said) != 0 {
		t.Fatalf("effective %s, said %v: 4 checks a second fit half of 10", s.Effective(), said)
	}
	for i := range 1000 {
		s.Synced(types.NamespacedName{Name: fmt.Sprint(i)}, "")
	}
	if got := s.Effective()[""]; got != 200*time.Second {
		t.Fatalf("effective period %s, want 1000 SIMs ÷ 5/s = 200s", got)
	}
	if d := s.Synced(types.NamespacedName{Name: "1"}, ""); d < 200*time.Second || d > 201*time.Second {
		t.Fatalf("next check in %s, want the stretched period", d)
	}
	if len(said) != 1 || said[0] <= 10*time.Second {
		t.Fatalf("said %v, want it said once, when the period first stretched", said)
	}
}

// After a restart the schedule has seen no object yet; counting the cached
// fleet at the first resume keeps the first objects resumed from crowding
// into --sync-period when the whole fleet needs a stretched one.
func TestARestartedFleetResumesOverTheStretchedPeriodFromTheFirstObject(t *testing.T) {
	s := New(time.Minute, 0, time.Second, time.Minute)
	s.Budget = func(string) float64 { return 5 }
	counts := 0
	s.Fleet = func() map[string]int { counts++; return map[string]int{"": 10000} } // 10,000 ÷ 5/s = 2,000 s
	early := 0
	for i := range 1000 {
		key := types.NamespacedName{Name: fmt.Sprint(i)}
		if s.Resume(key, "", true) {
			t.Fatal("an in-sync object was due at once")
		}
		if s.Remaining(key) < time.Minute {
			early++
		}
	}
	if counts != 1 {
		t.Fatalf("the fleet was counted %d times, want once", counts)
	}
	// Over a 2,000 s period about 3% fall in the first minute; over
	// --sync-period every one of them would.
	if early > 100 {
		t.Fatalf("%d of the first 1,000 objects resumed are due within a minute, want about 30", early)
	}
	if got := s.Effective()[""]; got != 2000*time.Second {
		t.Fatalf("effective period %s, want the whole fleet's 2000s", got)
	}
	for i := 1000; i < 10000; i++ {
		s.Resume(types.NamespacedName{Name: fmt.Sprint(i)}, "", true)
	}
	for i := 5000; i < 10000; i++ {
		s.Forget(types.NamespacedName{Name: fmt.Sprint(i)})
	}
	if got := s.Effective()[""]; got != 1000*time.Second {
		t.Fatalf("effective period %s after half the fleet left, want 1000s: the first count is not kept once every object is known", got)
	}
}

// Each account has its own budget: drift checks stretch where they would
// take more than half of that account's, and nowhere else.
func TestEachAccountsDriftPeriodStretchesForItsOwnBudget(t *testing.T) {
	s := New(10*time.Second, 0, time.Second, time.Minute)
	rates := map[string]float64{"": 10, "Account/team/busy": 2}
	s.Budget = func(account string) float64 { return rates[account] / 2 }
	var said []string
	s.OnStretch = func(account string, _ time.Duration, _ int) { said = append(said, account) }
	for i := range 40 {
		s.Synced(types.NamespacedName{Namespace: "team", Name: fmt.Sprint("busy-", i)}, "Account/team/busy")
		s.Synced(types.NamespacedName{Namespace: "other", Name: fmt.Sprint("quiet-", i)}, "")
	}
	got := s.Effective()
	// 40 SIMs every 10 s is 4 calls/s: within half of 10, beyond half of 2.
	if got[""] != 10*time.Second || got["Account/team/busy"] != 40*time.Second {
		t.Fatalf("effective periods %v, want the default account's 10s and the busy account's 40 ÷ 1/s = 40s", got)
	}
	if !slices.Equal(said, []string{"Account/team/busy"}) {
		t.Fatalf("said %q, want the busy account once", said)
	}
	// A SIM moving accounts leaves the count of the one it left.
	for i := range 20 {
		s.Synced(types.NamespacedName{Namespace: "team", Name: fmt.Sprint("busy-", i)}, "")
	}
	if got := s.Effective()["Account/team/busy"]; got != 20*time.Second {
		t.Fatalf("busy account's period %s after half its SIMs left, want 20s", got)
	}
}

// A parked object (a terminal error, a duplicate, paused) is never overdue
// and not scheduled, but the process remembers it reconciled it: its next
// spec change is written at once, without the read a restart needs.
func TestAParkedObjectIsSeenButNeverOverdue(t *testing.T) {
	s := New(time.Minute, 0, time.Second, time.Minute)
	key := types.NamespacedName{Name: "refused"}
	s.Failed(key, "", 0)
	s.Park(key, "")
	s.now = func() time.Time { return time.Now().Add(time.Hour) }
	if !s.Seen(key) || s.Overdue() != 0 || !s.Due(key) {
		t.Fatalf("seen %t, overdue %s, due %t: want seen, not overdue, due when woken", s.Seen(key), s.Overdue(), s.Due(key))
	}
	if s.Resume(key, "", true) {
		t.Fatal("a parked object in sync was due at once when it resumed")
	}
}

// Drift checks are handed out when due, earliest first, each once; a retry,
// a parked object or a forgotten one waits for no drift check.
func TestDriftChecksAreHandedOutWhenDueEarliestFirstAndOnce(t *testing.T) {
	s := New(time.Hour, 0.1, time.Second, time.Minute)
	now := time.Unix(0, 0)
	s.now = func() time.Time { return now }
	key := func(i int) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: fmt.Sprint(i)} }
	due := map[types.NamespacedName]time.Time{}
	for i := range 1000 {
		due[key(i)] = now.Add(s.Synced(key(i), ""))
	}
	s.Failed(key(1), "", 0) // a retry: its reconcile requeues itself
	s.Park(key(2), "")      // waits for a spec change
	s.Forget(key(3))        // gone
	s.Synced(key(4), "")    // checked again: one entry, at its new time
	due[key(4)] = now.Add(func() time.Duration { d, _ := s.DriftIn(key(4)); return d }())
	for i := 1; i <= 3; i++ {
		if _, ok := s.DriftIn(key(i)); ok {
			t.Errorf("object %d waits for a drift check", i)
		}
		delete(due, key(i))
	}

	var handed []types.NamespacedName
	for step := 0; step <= 100; step++ {
		now = time.Unix(0, 0).Add(time.Duration(step) * 1 * time.Minute)
		got := s.DueDrifts()
		for j, k := range got {
			if due[k].After(now) {
				t.Fatalf("%s handed out at %s, due at %s", k, now, due[k])
			}
			if j > 0 && due[k].Before(due[got[j-1]]) {
				t.Fatalf("%s handed out after %s, which is due later", k, got[j-1])
			}
			if !s.Due(k) {
				t.Fatalf("%s handed out but not due", k)
			}
		}
		handed = append(handed, got...)
	}
	if len(handed) != len(due) {
		t.Fatalf("%d drift checks handed out, want each of %d once", len(handed), len(due))
	}
	for _, k := range handed {
		if _, ok := due[k]; !ok {
			t.Fatalf("%s handed out without a drift check", k)
		}
		delete(due, k)
	}
	if len(s.drifts.items) != 0 {
		t.Fatalf("%d drift checks left", len(s.drifts.items))
	}
}

// Any sequence of schedule changes leaves the drift heap ordered and each
// object's slot pointing at its own entry.
func TestTheDriftHeapStaysConsistent(t *testing.T) {
	s := New(time.Hour, 0.1, time.Second, time.Minute)
	now := time.Unix(0, 0)
	s.now = func() time.Time { return now }
	for i := range 20000 {
		k := types.NamespacedName{Name: fmt.Sprint(i % 300)}
		switch i % 7 {
		case 0, 1, 2:
			s.Synced(k, "")
		case 3:
			s.Failed(k, "", 0)
		case 4:
			s.Park(k, "")
		case 5:
			s.Forget(k)
		case 6:
			s.Resume(k, "", true)
		}
		if i%100 == 0 {
			now = now.Add(time.Minute)
			s.DueDrifts()
		}
	}
	for i, d := range s.drifts.items {
		if n := s.next[d.key]; n.drift != i || n.at.UnixNano() != d.at {
			t.Fatalf("entry %d (%s at %d) is not its slot's (%+v)", i, d.key, d.at, n)
		}
		if i > 0 && s.drifts.items[(i-1)/2].at > d.at {
			t.Fatalf("entry %d is due before its parent", i)
		}
	}
	for k, n := range s.next {
		if n.drift != noDrift && s.drifts.items[n.drift].key != k {
			t.Fatalf("%s points at another object's entry", k)
		}
	}
}

// A change applied as its object arrives resumes before the informer has
// handed over the fleet: the count is asked again at the next resume, so
// the fleet that follows still spreads over the stretched period.
func TestAResumeBeforeTheFleetIsCountedDoesNotFixTheCount(t *testing.T) {
	s := New(time.Minute, 0, time.Second, time.Minute)
	s.Budget = func(string) float64 { return 5 }
	var fleet map[string]int // nil: the initial list is still arriving
	s.Fleet = func() map[string]int { return fleet }
	if !s.Resume(types.NamespacedName{Name: "pending"}, "", false) {
		t.Fatal("a pending object was not due at once")
	}
	fleet = map[string]int{"": 10000}
	s.Resume(types.NamespacedName{Name: "in-sync"}, "", true)
	if got := s.Effective()[""]; got != 2000*time.Second {
		t.Fatalf("effective period %s, want the whole fleet's 2000s", got)
	}
}
