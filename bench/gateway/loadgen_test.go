package gateway

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// result is one run of a load generator.
type result struct {
	rps           float64
	p50, p90, p99 time.Duration
	// mean is h2load's mean time per request (it prints no percentiles).
	mean time.Duration
	// requests is how many wrk completed; cpu is the CPU time the proxy's
	// processes spent per request meanwhile (0 going direct).
	requests float64
	cpu      time.Duration
}

// series holds a target's results over the rounds.
type series struct{ c32, c1, h2 []result }

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkCount   = regexp.MustCompile(`(\d+) requests in `)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|90|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkBad     = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	h2Finished = regexp.MustCompile(`finished in [0-9.]+\w*, ([0-9.]+) req/s`)
	h2Requests = regexp.MustCompile(`requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored`)
	h2Status   = regexp.MustCompile(`status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
	h2Mean     = regexp.MustCompile(`time for request:\s+\S+\s+\S+\s+(\S+)`)
)

// runWrk runs wrk with threads and conns for d and parses its report. Any
// error or non-2xx answer fails the benchmark: a fast error is no result.
func runWrk(ctx context.Context, b *testing.B, t target, threads, conns int, d time.Duration) result {
	args := []string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}
	if t.host != "" {
		args = append(args, "-H", "Host: "+t.host)
	}
	out := run(ctx, b, "wrk", append(args, t.url)...)
	if m := wrkBad.FindStringSubmatch(out); m != nil {
		b.Fatalf("wrk %s: errors or non-2xx answers:\n%s", t.name, out)
	}
	var r result
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("wrk %s: no Requests/sec in:\n%s", t.name, out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := wrkCount.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, p := range wrkPct.FindAllStringSubmatch(out, -1) {
		d := parseDur(p[2], p[3])
		switch p[1] {
		case "50":
			r.p50 = d
		case "90":
			r.p90 = d
		case "99":
			r.p99 = d
		}
	}
	if r.p50 == 0 || r.p99 == 0 {
		b.Fatalf("wrk %s: no latency distribution in:\n%s", t.name, out)
	}
	return r
}

// runH2load runs h2load over h2c (prior knowledge) with conns connections of
// streams concurrent streams each, for d after a one-second warm-up.
func runH2load(ctx context.Context, b *testing.B, t target, conns, streams int, d time.Duration) result {
	args := []string{"-c", strconv.Itoa(conns), "-m", strconv.Itoa(streams), "-t", "1",
		"-D", strconv.Itoa(int(d.Seconds())), "--warm-up-time", "1"}
	if t.host != "" {
		args = append(args, "-H", ":authority: "+t.host)
	}
	out := run(ctx, b, "h2load", append(args, t.h2url)...)
	rq := h2Requests.FindStringSubmatch(out)
	st := h2Status.FindStringSubmatch(out)
	fin := h2Finished.FindStringSubmatch(out)
	mean := h2Mean.FindStringSubmatch(out)
	if rq == nil || st == nil || fin == nil || mean == nil {
		b.Fatalf("h2load %s: unexpected report:\n%s", t.name, out)
	}
	if rq[3] != "0" || rq[4] != "0" || st[1] != "0" || st[2] != "0" || st[3] != "0" {
		b.Fatalf("h2load %s: failed requests or non-2xx answers:\n%s", t.name, out)
	}
	var r result
	r.rps, _ = strconv.ParseFloat(fin[1], 64)
	r.mean = parseDur(splitUnit(mean[1]))
	return r
}

func run(ctx context.Context, b *testing.B, name string, args ...string) string {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func splitUnit(s string) (string, string) {
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		return s, "s"
	}
	return s[:i], s[i:]
}

func parseDur(num, unit string) time.Duration {
	f, _ := strconv.ParseFloat(num, 64)
	switch unit {
	case "us":
		return time.Duration(f * float64(time.Microsecond))
	case "ms":
		return time.Duration(f * float64(time.Millisecond))
	default:
		return time.Duration(f * float64(time.Second))
	}
}

// nginxProc is a running nginx: its plain and h2c listeners and its
// master's process ID.
type nginxProc struct {
	http, h2c string
	pid       int
}

// workers are nginx's worker processes, which do its work.
func (p nginxProc) workers() []int { return children(p.pid) }

// nginxConf is a keep-alive reverse proxy to one upstream, as one would put
// in front of the container by hand: HTTP/1.1 upstream with a pool of idle
// connections, the usual forwarded headers, no access log.
const nginxConf = `daemon off;
master_process on;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  keepalive_requests 1000000;
  upstream app {
    server %[2]s;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen %[3]s;
    listen %[4]s http2;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`

// startNginx starts nginx on two free loopback ports, proxying to upstream,
// and stops it when the benchmark ends.
func startNginx(ctx context.Context, b *testing.B, dir, upstream string) nginxProc {
	prefix := filepath.Join(dir, "nginx")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		b.Fatal(err)
	}
	p := nginxProc{http: freePort(b), h2c: freePort(b)}
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, prefix, upstream, p.http, p.h2c)), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "nginx", "-p", prefix, "-c", conf)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("start nginx: %v", err)
	}
	p.pid = cmd.Process.Pid
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // SIGINT: fast shutdown of master and workers
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := dialOK(p.http); err == nil {
			return p
		} else if time.Now().After(deadline) {
			b.Fatalf("nginx did not listen on %s: %v", p.http, err)
		}
	}
}
