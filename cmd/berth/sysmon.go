//go:build unix

package main

import (
	"os"
	"strings"
	"syscall"
)

// keepSysmonAwake starts `berth server` again in place (same process ID)
// with GODEBUG=schedtrace set to its largest value, unless GODEBUG already
// sets schedtrace (schedtrace=0 opts out).
//
// Why: when every scheduler thread is idle, the Go runtime's monitor thread
// (sysmon) goes into a deep sleep, and the next goroutine to enter a system
// call wakes it, which then polls every 20 µs until all is idle again. A
// proxy that is idle for a moment between requests — the gateway under any
// load short of saturation — pays that on every burst: in the gateway
// benchmark sysmon's wake-ups were a quarter to a third of the server's CPU
// per request and added about 70 µs to each serial request
// (docs/benchmarks.md). With schedtrace set sysmon never deep-sleeps: it
// backs off to a 10 ms period instead. The only other effect of a trace
// period of 2^31-1 ms (24.8 days) is a one-line scheduler summary on stderr
// once per period, and a scheduler dump before a fatal panic's stack.
func keepSysmonAwake(args []string) {
	if len(args) < 2 || args[1] != "server" || strings.Contains(os.Getenv("GODEBUG"), "schedtrace=") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	godebug := "schedtrace=2147483647"
	if v := os.Getenv("GODEBUG"); v != "" {
		godebug = v + "," + godebug
	}
	env := []string{"GODEBUG=" + godebug}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	syscall.Exec(exe, args, env) // returns only if it failed: run as we are
}
