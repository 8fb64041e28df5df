package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runJob is the one-shot mode, "testapp job [KEY=VALUE]...", for job tests.
// In order it prints "attempt=$BERTH_ATTEMPT execution=$BERTH_EXECUTION",
// each print=TEXT, the value of each env=NAME as "NAME=value", the result of
// each dial=HOST:PORT or dial=unix:PATH (a connect with a 2s timeout) as "dial ADDR: ok"
// or "dial ADDR: failed: …", then sleeps sleep=DURATION and exits with
// exit=N (default 0). SIGTERM ends it at once with 143.
func runJob(args []string) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	fmt.Printf("attempt=%s execution=%s\n", os.Getenv("BERTH_ATTEMPT"), os.Getenv("BERTH_EXECUTION"))
	code := 0
	var sleep time.Duration
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "print":
			fmt.Println(v)
		case "env":
			fmt.Printf("%s=%s\n", v, os.Getenv(v))
		case "dial":
			fmt.Println(dialResult(v))
		case "sleep":
			sleep, _ = time.ParseDuration(v)
		case "exit":
			code, _ = strconv.Atoi(v)
		default:
			fmt.Fprintf(os.Stderr, "unknown job argument %q\n", a)
		}
	}
	select {
	case <-time.After(sleep):
	case s := <-sig:
		fmt.Printf("got %s, stopping\n", s)
		return 143
	}
	fmt.Printf("exiting with %d\n", code)
	return code
}
