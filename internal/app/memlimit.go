package app

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// MemoryLimitEnv carries the container's memory limit in bytes; the bundle
// and the chart set it from the downward API (resourceFieldRef limits.memory).
const MemoryLimitEnv = "SIM_OPERATOR_MEMORY_LIMIT"

// memoryLimitShare of the container's limit is the Go runtime's soft limit:
// the rest is for what the runtime does not count (the binary's mapped
// pages, about 40 MiB, and the kernel's buffers), so the collector works
// harder before the kernel would kill the container, not after.
const memoryLimitShare = 0.9

// defaultGCPercent is the collector's target when $GOGC is unset: the heap
// may grow by half its live size between collections, not by all of it.
// The manager's live heap is mostly the informer cache, and a burst of
// changes turns it over (every watch event and status-patch answer decodes
// a new copy of an object), so its peak is what the target allows: a
// quarter less peak heap for a fifth more of the manager's CPU, which is a
// tenth of the apiserver's (docs/performance.md, "Memory at 10,000 SIMs").
const defaultGCPercent = 50

// setGCPercent applies defaultGCPercent unless $GOGC is set, and returns
// the percent in force.
func setGCPercent() int {
	if v := os.Getenv("GOGC"); v != "" {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(defaultGCPercent)
	return defaultGCPercent
}

// setMemoryLimit sets the Go runtime's soft memory limit from $MemoryLimitEnv,
// unless $GOMEMLIMIT sets it explicitly. It returns the limit set (0: none).
// Without a container limit the downward API gives the node's memory: a
// limit that never binds, which is harmless.
func setMemoryLimit() (int64, error) {
	v := os.Getenv(MemoryLimitEnv)
	if v == "" || os.Getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	limit, err := strconv.ParseInt(v, 10, 64)
	if err != nil || limit <= 0 {
		return 0, fmt.Errorf("$%s=%q: want the container's memory limit in bytes", MemoryLimitEnv, v)
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	return soft, nil
}

// startupGCPercent is the collector's target while the caches fill. The
// initial list allocates the whole cache once and frees little; at
// defaultGCPercent the collector marked the growing cache again at every
// half of its growth, a third of a restarted manager's CPU before its
// first reconcile, on the cores the apiserver needs to send the list. At
// 200 it marks it about half as often; the heap then peaks below what a
// burst of changes makes it peak at later (docs/performance.md), and a
// container's memory limit still bounds it.
const startupGCPercent = 200

// gcUntilSynced sets the collector back to percent once synced reports the
// caches full (or gives up), and from then on keeps the heap's growth
// between collections within maxGCHeadroom (gcPercentFor) until ctx ends.
// It is a runnable that needs no leader: a standby replica's caches fill
// too.
type gcUntilSynced struct {
	synced  func(context.Context) bool
	percent int
	every   time.Duration // how often the live heap is read (0: every second)
}

func (g gcUntilSynced) Start(ctx context.Context) error {
	g.synced(ctx)
	last := -1
	ticker := time.NewTicker(cmp.Or(g.every, time.Second))
	defer ticker.Stop()
	for {
		if p := gcPercentFor(liveHeap(), g.percent); p != last {
			debug.SetGCPercent(p)
			last = p
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func (gcUntilSynced) NeedLeaderElection() bool { return false }

// maxGCHeadroom is how much the heap may grow between collections once it
// is large: at percent it grows by half its live size, about 12 MiB at
// 10,000 SIMs but 31 MiB at 50,000, a fifth of the manager's peak memory.
// Past 2 × maxGCHeadroom of live heap the target shrinks so that the
// growth stays maxGCHeadroom, down to minGCPercent: the collector runs
// more often for a large fleet, and its memory grows with the fleet, not
// with half of it on top (docs/performance.md).
const (
	maxGCHeadroom = 24 << 20
	minGCPercent  = 25
)

// gcPercentFor is the collector's target for a live heap of live bytes:
// percent, or less once percent of live would exceed maxGCHeadroom, never
// below minGCPercent.
func gcPercentFor(live uint64, percent int) int {
	if live == 0 || uint64(percent)*live <= 100*maxGCHeadroom {
		return percent
	}
	return max(int(100*maxGCHeadroom/live), min(minGCPercent, percent))
}

// liveHeap is the heap the last collection found live, in bytes.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// relaxGCUntilSynced applies startupGCPercent now and adds to mgr what sets
// percent back once its caches have synced, unless $GOGC is set.
func relaxGCUntilSynced(mgr interface{ Add(manager.Runnable) error }, synced func(context.Context) bool, percent int) error {
	if os.Getenv("GOGC") != "" {
		return nil
	}
	debug.SetGCPercent(startupGCPercent)
	return mgr.Add(gcUntilSynced{synced: synced, percent: percent})
}
