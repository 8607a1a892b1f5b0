package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// cpuSample is the CPU time (user + system, seconds) each process of the run
// has used so far: the bench itself (its clients, the simulator and the
// readiness informer), kube-apiserver, etcd and the manager. The difference of
// two samples is where a phase's CPU went, on a machine whose cores all of them
// share.
type cpuSample map[string]float64

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on Linux.
const clockTicks = 100

// sampleCPU reads the bench's process and its children. Off Linux it is empty.
func sampleCPU() cpuSample {
	s := cpuSample{}
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		name, ppid, secs, ok := procStat(pid)
		if !ok || (pid != self && ppid != self) {
			continue
		}
		if pid == self {
			name = "bench"
		}
		s[name] += secs
	}
	return s
}

// procStat parses /proc/<pid>/stat: the command name, the parent and utime+stime.
func procStat(pid int) (name string, ppid int, secs float64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, 0, false
	}
	// The name is in parentheses and may hold spaces; the fields follow the last ')'.
	open, closing := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')')
	if open < 0 || closing < open {
		return "", 0, 0, false
	}
	f := strings.Fields(string(b[closing+1:]))
	// f[0] is the state (field 3); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return "", 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return string(b[open+1 : closing]), ppid, (utime + stime) / clockTicks, true
}

// since is the CPU each process used between earlier and s.
func (s cpuSample) since(earlier cpuSample) map[string]float64 {
	d := make(map[string]float64, len(s))
	for k, v := range s {
		d[k] = v - earlier[k]
	}
	return d
}
