// Package schedule holds, in memory, when each managed object is next due
// for a drift check or a retry, per account, with each account's drift
// period stretched to fit its API budget. Nothing here is written to the
// apiserver: that is what lets a steady state cost zero writes.
package schedule

import (
	"container/heap"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Schedule remembers, in memory, when each object is next due for a drift
// check and how often it has failed in a row. Keeping this out of status is
// what lets a steady state cost zero apiserver writes. After a restart an
// object whose status says it was in sync resumes at a random point of the
// next period (Resume); any other object is due at once.
//
// Each object belongs to an account (its API key and budget; "" is the
// default account), and the drift period is the account's: when an
// account's objects ÷ period would ask for more than the drift checks' share
// of its budget, its period stretches to objects ÷ share, so that the
// account's user intents never queue behind its drift checks.
type Schedule struct {
	period     time.Duration // between drift checks
	jitter     float64       // ±fraction of period
	minBackoff time.Duration
	maxBackoff time.Duration
	now        func() time.Time
	// Budget is the drift checks' share of an account's API budget, in
	// checks per second (0 or nil: unlimited). OnStretch says, once per
	// account, that its period stretched.
	Budget    func(account string) float64
	OnStretch func(account string, effective time.Duration, objects int)
	// Fleet, when set, counts the objects the controller holds per account
	// (the informer's adds less its deletes), nil until the informer has
	// handed over its whole initial list. It is asked at each resume until
	// it answers: after a restart the period stretches for the whole fleet
	// at once, so the first objects resumed spread over the stretched period
	// too rather than over --sync-period, ahead of changes (a change applied
	// as its object arrives resumes before the count is known).
	Fleet func() map[string]int

	mu        sync.Mutex
	next      map[types.NamespacedName]slot
	drifts    drifts // the drift checks, earliest first
	failures  map[types.NamespacedName]int
	objects   map[string]int // scheduled objects per account
	known     map[string]int // the fleet as counted, per account, until next holds as many
	counted   bool
	stretched map[string]bool
}

// slot is when an object is next due, its account, and where it waits
// among the drift checks (noDrift: it waits for no drift check).
type slot struct {
	at      time.Time
	account string
	drift   int
}

const noDrift = -1

// New makes a schedule: checks every period (±jitter), failures retried
// after minBackoff doubling up to maxBackoff.
func New(period time.Duration, jitter float64, minBackoff, maxBackoff time.Duration) *Schedule {
	next := map[types.NamespacedName]slot{}
	return &Schedule{
		period: period, jitter: jitter, minBackoff: minBackoff, maxBackoff: maxBackoff, now: time.Now,
		next: next, failures: map[types.NamespacedName]int{}, drifts: drifts{next: next},
		objects: map[string]int{}, known: map[string]int{}, stretched: map[string]bool{},
	}
}

// Due reports whether the object should be observed now.
func (s *Schedule) Due(key types.NamespacedName) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.next[key]
	return !ok || n.at.IsZero() || !s.now().Before(n.at)
}

// Seen reports whether this process has scheduled the object: it has
// reconciled it before (a fresh process, after a restart or failover, has not).
func (s *Schedule) Seen(key types.NamespacedName) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.next[key]
	return ok
}

// Resume, for an object this process has no schedule for yet (it just
// started) but whose status says it was in sync, schedules its next check at
// a random point of the coming period instead of now: a restart does not
// spend a whole period's API budget in one burst, ahead of real changes.
// It reports whether the object is due now.
func (s *Schedule) Resume(key types.NamespacedName, account string, inSync bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.next[key]
	if s.Fleet != nil && !s.counted {
		if known := s.Fleet(); known != nil {
			s.counted, s.known = true, known
		}
	}
	if n.at.IsZero() { // not scheduled, or parked
		ok = false
	}
	if !ok && inSync {
		s.set(key, account, s.now().Add(time.Duration(rand.Int64N(int64(s.effectiveLocked(account))+1))), true)
		return false
	}
	return !ok || !s.now().Before(n.at)
}

// Synced records a successful sync and returns the wait until the next one:
// the period jittered by ±jitter. The first wait of an object in this process
// is drawn from a whole period's width (0.5 to 1.5 periods), so that a fleet
// created in a burst does not keep checking
// in that burst: its checks spread evenly over the period.
func (s *Schedule) Synced(key types.NamespacedName, account string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	spread := s.jitter
	if _, seen := s.next[key]; !seen {
		spread = 0.5
	}
	d := time.Duration(float64(s.effectiveLocked(account)) * (1 - spread + 2*spread*rand.Float64()))
	s.set(key, account, s.now().Add(d), true)
	delete(s.failures, key)
	return d
}

// set schedules key in account, as a drift check (check: DueDrifts hands it
// out when due) or as a retry (its reconcile asks for a requeue). Once every
// object an account's count named has a schedule, the schedule counts them
// instead (the fleet may shrink).
func (s *Schedule) set(key types.NamespacedName, account string, at time.Time, check bool) {
	old, ok := s.next[key]
	if ok && old.account != account {
		s.Drop(old.account)
	}
	if !ok || old.account != account {
		s.objects[account]++
	}
	if !ok {
		old.drift = noDrift
	}
	s.next[key] = slot{at: at, account: account, drift: old.drift}
	switch {
	case check && !at.IsZero() && old.drift == noDrift:
		heap.Push(&s.drifts, drift{at: at.UnixNano(), key: key})
	case check && !at.IsZero():
		s.drifts.items[old.drift].at = at.UnixNano()
		heap.Fix(&s.drifts, old.drift)
	case old.drift != noDrift:
		heap.Remove(&s.drifts, old.drift)
	}
	if s.objects[account] >= s.known[account] {
		delete(s.known, account)
	}
}

func (s *Schedule) Drop(account string) {
	if s.objects[account]--; s.objects[account] <= 0 {
		delete(s.objects, account)
	}
}

// Park drops the object's due time (it waits for a spec change or a
// person, never overdue) but remembers that this process reconciled it.
func (s *Schedule) Park(key types.NamespacedName, account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set(key, account, time.Time{}, false)
	delete(s.failures, key)
}

// Remaining is the wait until the object is next due.
func (s *Schedule) Remaining(key types.NamespacedName) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.next[key].at.Sub(s.now()), 10*time.Millisecond)
}

// Failed records a retryable failure and returns the backoff: exponential
// from minBackoff to maxBackoff, and never shorter than what the API asked.
// The object is next due when the backoff ends.
func (s *Schedule) Failed(key types.NamespacedName, account string, retryAfter time.Duration) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.failures[key]
	s.failures[key] = n + 1
	d := s.minBackoff << min(n, 30)
	if d > s.maxBackoff || d <= 0 {
		d = s.maxBackoff
	}
	d = max(d, retryAfter)
	s.set(key, account, s.now().Add(d), false)
	return d
}

// Throttled records a rate-limited attempt: retry after what the API asked
// (at least minBackoff, spread by up to a half of it but at most
// maxThrottleSpread: the wait stays close to the cap on what the API may
// dictate), without growing the backoff.
func (s *Schedule) Throttled(key types.NamespacedName, account string, retryAfter time.Duration) time.Duration {
	d := max(retryAfter, s.minBackoff)
	d += time.Duration(rand.Int64N(int64(min(d/2, maxThrottleSpread)) + 1))
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.failures, key)
	s.set(key, account, s.now().Add(d), false)
	return d
}

// maxThrottleSpread bounds the spread of rate-limited retries.
const maxThrottleSpread = 2 * time.Second

// Effective is the drift period in force for the default account and each
// account with objects:
// the configured one, or longer when the account's checks would take more
// than their share of its budget.
func (s *Schedule) Effective() map[string]time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]time.Duration{"": s.effectiveLocked("")} // the default account's, even before its first object
	for account := range s.objects {
		out[account] = s.effectiveLocked(account)
	}
	for account := range s.known {
		out[account] = s.effectiveLocked(account)
	}
	return out
}

func (s *Schedule) effectiveLocked(account string) time.Duration {
	p := s.period
	objects := max(s.objects[account], s.known[account])
	if s.Budget != nil {
		if share := s.Budget(account); share > 0 {
			if need := time.Duration(float64(objects) / share * float64(time.Second)); need > p {
				p = need
			}
		}
	}
	if stretched := p > s.period; stretched != s.stretched[account] {
		s.stretched[account] = stretched
		if stretched && s.OnStretch != nil {
			s.OnStretch(account, p, objects)
		}
	}
	return p
}

// Overdue is how long the most overdue object has been due: near zero while
// reconciles keep up, growing when the API budget or the workers fall behind.
func (s *Schedule) Overdue() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var worst time.Duration
	for _, n := range s.next {
		if !n.at.IsZero() {
			worst = max(worst, now.Sub(n.at))
		}
	}
	return worst
}

// Forget drops an object that is gone.
func (s *Schedule) Forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.next[key]; ok {
		s.Drop(old.account)
		if old.drift != noDrift {
			heap.Remove(&s.drifts, old.drift)
		}
		delete(s.next, key)
	}
	delete(s.failures, key)
}

// DueDrifts hands out the objects whose drift check is due, earliest first,
// each once: the caller queues their reconciles. An object stays due (Due,
// Resume) until its reconcile schedules it again. One heap entry per object
// replaces a delayed workqueue item per object (docs/performance.md).
func (s *Schedule) DueDrifts() []types.NamespacedName {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UnixNano()
	var out []types.NamespacedName
	for s.drifts.Len() > 0 && s.drifts.items[0].at <= now {
		out = append(out, heap.Pop(&s.drifts).(drift).key)
	}
	return out
}

// DriftIn is the wait until the object's drift check is due, if one is
// scheduled and not yet handed out.
func (s *Schedule) DriftIn(key types.NamespacedName) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.next[key]
	if !ok || n.drift == noDrift {
		return 0, false
	}
	return n.at.Sub(s.now()), true
}

// drifts is a min-heap (container/heap) of drift checks by due time; each
// object's slot in next holds its index, kept in step by Swap, and is
// cleared by Pop.
type drifts struct {
	items []drift
	next  map[types.NamespacedName]slot
}

type drift struct {
	at  int64 // Unix nanoseconds
	key types.NamespacedName
}

func (h *drifts) Len() int           { return len(h.items) }
func (h *drifts) Less(i, j int) bool { return h.items[i].at < h.items[j].at }

func (h *drifts) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.place(i, i)
	h.place(j, j)
}

func (h *drifts) Push(x any) {
	h.items = append(h.items, x.(drift))
	h.place(len(h.items)-1, len(h.items)-1)
}

func (h *drifts) Pop() any {
	last := len(h.items) - 1
	h.place(last, noDrift)
	d := h.items[last]
	h.items = h.items[:last]
	return d
}

// place records at in the slot of entry i's object.
func (h *drifts) place(i, at int) {
	key := h.items[i].key
	if n, ok := h.next[key]; ok {
		n.drift = at
		h.next[key] = n
	}
}
