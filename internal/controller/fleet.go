package controller

import (
	"context"
	"sync"
	"time"

	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// Fleet-wide observation, the current API's gift: one GET /sims page holds
// 1,000 SIMs, so reading a whole account costs ceil(N/1000) calls instead of
// N. A SIM of a Current account is observed from a snapshot of its
// account's fleet, listed when the snapshot is older than the drift period,
// and kept current with every answer this process gets for one SIM (a
// PATCH's, a GET's), so it is never older than the operator's own writes.
// A SIM missing from a complete list is read once by ID before anything
// concludes it is gone. Adopting thousands of SIMs binds them from one list.

// fleetLister lists an account's SIMs and reads one.
type fleetLister interface {
	ListSIMs(ctx context.Context, next string, limit int) (*onomondo.SIMPage, error)
	GetCurrentSIM(ctx context.Context, id string) (*onomondo.CurrentSIM, error)
}

// fleetCache holds one snapshot per account client.
type fleetCache struct {
	// ttl is how old a snapshot may be (the drift period).
	ttl time.Duration

	mu    sync.Mutex
	fleet map[fleetLister]*fleetSnapshot
}

type fleetSnapshot struct {
	mu   sync.Mutex // one list at a time per account
	at   time.Time
	sims map[string]onomondo.CurrentSIM // by SIM ID
	ids  map[string]string              // ICCID → SIM ID
}

func (f *fleetCache) snapshot(api fleetLister) *fleetSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fleet == nil {
		f.fleet = map[fleetLister]*fleetSnapshot{}
	}
	s := f.fleet[api]
	if s == nil {
		s = &fleetSnapshot{}
		f.fleet[api] = s
	}
	return s
}

// get is the SIM by SIM ID or ICCID, from the account's snapshot (listed
// again when older than the ttl), else from one read by ID. No cache (the
// read of kubectl sim diff, which looks at one manifest) reads by ID.
func (f *fleetCache) get(ctx context.Context, api fleetLister, id string) (*onomondo.CurrentSIM, error) {
	if f == nil {
		return api.GetCurrentSIM(ctx, id)
	}
	s := f.snapshot(api)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at.IsZero() || time.Since(s.at) > f.ttl {
		if err := s.list(ctx, api); err != nil {
			return nil, err
		}
	}
	if c, ok := s.lookup(id); ok {
		return &c, nil
	}
	c, err := api.GetCurrentSIM(ctx, id) // missing from a complete list: read once before concluding
	if err == nil {
		s.putLocked(c)
	}
	return c, err
}

// put records a SIM the API just answered with.
func (f *fleetCache) put(api fleetLister, c *onomondo.CurrentSIM) {
	s := f.snapshot(api)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sims != nil {
		s.putLocked(c)
	}
}

func (s *fleetSnapshot) list(ctx context.Context, api fleetLister) error {
	sims, ids := map[string]onomondo.CurrentSIM{}, map[string]string{}
	for next := ""; ; {
		page, err := api.ListSIMs(ctx, next, onomondo.MaxSIMPage)
		if err != nil {
			return err
		}
		for _, c := range page.SIMs {
			sims[c.ID], ids[c.ICCID] = c, c.ID
		}
		if next = page.Next; next == "" {
			break
		}
	}
	s.sims, s.ids, s.at = sims, ids, time.Now()
	return nil
}

func (s *fleetSnapshot) lookup(id string) (onomondo.CurrentSIM, bool) {
	if simID, ok := s.ids[id]; ok {
		id = simID
	}
	c, ok := s.sims[id]
	return c, ok
}

func (s *fleetSnapshot) putLocked(c *onomondo.CurrentSIM) {
	s.sims[c.ID] = *c
	s.ids[c.ICCID] = c.ID
}
