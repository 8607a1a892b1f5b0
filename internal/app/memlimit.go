package app

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"

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
// caches full (or gives up). It is a runnable that needs no leader: a
// standby replica's caches fill too.
type gcUntilSynced struct {
	synced  func(context.Context) bool
	percent int
}

func (g gcUntilSynced) Start(ctx context.Context) error {
	g.synced(ctx)
	debug.SetGCPercent(g.percent)
	return nil
}

func (gcUntilSynced) NeedLeaderElection() bool { return false }

// relaxGCUntilSynced applies startupGCPercent now and adds to mgr what sets
// percent back once its caches have synced, unless $GOGC is set.
func relaxGCUntilSynced(mgr interface{ Add(manager.Runnable) error }, synced func(context.Context) bool, percent int) error {
	if os.Getenv("GOGC") != "" {
		return nil
	}
	debug.SetGCPercent(startupGCPercent)
	return mgr.Add(gcUntilSynced{synced: synced, percent: percent})
}
