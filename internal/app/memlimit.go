package app

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
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
