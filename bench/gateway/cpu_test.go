package gateway

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// userHZ is the unit of the CPU times in /proc/PID/stat: USER_HZ, 100 on
// every Linux architecture Go runs on.
const userHZ = 100

// cpuMark is the CPU time a target's processes had used when a run began.
type cpuMark struct {
	t     target
	start time.Duration
}

// startCPU notes the CPU time of t's processes, if it has any.
func startCPU(b *testing.B, t target) cpuMark {
	if t.pids == nil {
		return cpuMark{t: t}
	}
	return cpuMark{t: t, start: procCPU(b, t.pids())}
}

// perRequest is the CPU time t's processes used since the mark, divided by
// the requests served meanwhile; 0 for a target without processes.
func (m cpuMark) perRequest(b *testing.B, requests float64) time.Duration {
	if m.t.pids == nil || requests <= 0 {
		return 0
	}
	return time.Duration(float64(procCPU(b, m.t.pids())-m.start) / requests)
}

// procCPU is the user and system CPU time the processes have used, all
// their threads included (fields 14 and 15 of /proc/PID/stat).
func procCPU(b *testing.B, pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatalf("CPU time of process %d: %v", pid, err)
		}
		// The command name, field 2, is in parentheses and may hold spaces.
		s := string(raw)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 13 {
			b.Fatalf("/proc/%d/stat: too few fields: %q", pid, s)
		}
		for _, f := range fields[11:13] { // utime, stime: fields 14 and 15
			ticks, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				b.Fatalf("/proc/%d/stat: %q is not a tick count", pid, f)
			}
			total += time.Duration(ticks) * time.Second / userHZ
		}
	}
	return total
}

// children are the processes whose parent is pid (nginx's workers).
func children(pid int) []int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(raw)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}
