package gateway

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// report renders the medians over the rounds and the ratios of the gateway
// to nginx and to going direct, as markdown.
func report(rounds int, dur time.Duration, res map[string]*series) string {
	type row struct {
		name   string
		c32    result
		c1     result
		h2     result
		c1Over time.Duration // serial p50 added over direct
	}
	direct := medianOf(res["direct"].c1).p50
	var rows []row
	for _, n := range []string{"direct", "nginx", "gateway"} {
		s := res[n]
		r := row{name: n, c32: medianOf(s.c32), c1: medianOf(s.c1), h2: medianOf(s.h2)}
		r.c1Over = r.c1.p50 - direct
		rows = append(rows, r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nMedians of %d rounds, %s per run, targets alternated.\n\n", rounds, dur)
	b.WriteString("| path | wrk -c32 req/s | -c32 p50 | -c32 p90 | -c32 p99 | proxy CPU per request -c32 | wrk -c1 p50 | -c1 p99 | -c1 p50 added over direct | h2load -c32 -m8 req/s | h2 mean |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		over, cpu := "—", "—"
		if r.name != "direct" {
			over, cpu = us(r.c1Over), us1(r.c32.cpu)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %.0f | %s |\n", r.name, r.c32.rps, us(r.c32.p50), us(r.c32.p90), us(r.c32.p99),
			cpu, us(r.c1.p50), us(r.c1.p99), over, r.h2.rps, us(r.h2.mean))
	}
	d, n, g := rows[0], rows[1], rows[2]
	b.WriteString("\n| ratio | value | target |\n| --- | --- | --- |\n")
	fmt.Fprintf(&b, "| throughput -c32, gateway ÷ nginx | **%.2f×** | ≥ 1.0× |\n", g.c32.rps/n.c32.rps)
	fmt.Fprintf(&b, "| the same, median of the rounds' own ratios | %s | |\n", pairedRatios(res["gateway"].c32, res["nginx"].c32))
	fmt.Fprintf(&b, "| proxy CPU per request -c32, gateway ÷ nginx | %.2f× (%s vs %s) | |\n", g.c32.cpu.Seconds()/n.c32.cpu.Seconds(), us1(g.c32.cpu), us1(n.c32.cpu))
	fmt.Fprintf(&b, "| throughput -c32, gateway ÷ direct | %.2f× | |\n", g.c32.rps/d.c32.rps)
	fmt.Fprintf(&b, "| throughput -c32, nginx ÷ direct | %.2f× | |\n", n.c32.rps/d.c32.rps)
	fmt.Fprintf(&b, "| serial p50 added over direct, gateway ÷ nginx | **%s** (%s vs %s) | ≤ 1.0× |\n", ratio(g.c1Over, n.c1Over), us(g.c1Over), us(n.c1Over))
	fmt.Fprintf(&b, "| serial p50, gateway ÷ direct | %.2f× | |\n", g.c1.p50.Seconds()/d.c1.p50.Seconds())
	fmt.Fprintf(&b, "| h2 throughput, gateway ÷ nginx | %.2f× | |\n", g.h2.rps/n.h2.rps)
	fmt.Fprintf(&b, "| h2 throughput, gateway ÷ direct | %.2f× | |\n", g.h2.rps/d.h2.rps)
	return b.String()
}

// medianOf takes each field's median separately.
func medianOf(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return median(v)
	}
	dur := func(f func(result) time.Duration) time.Duration {
		return time.Duration(pick(func(r result) float64 { return float64(f(r)) }))
	}
	return result{
		rps:  pick(func(r result) float64 { return r.rps }),
		p50:  dur(func(r result) time.Duration { return r.p50 }),
		p90:  dur(func(r result) time.Duration { return r.p90 }),
		p99:  dur(func(r result) time.Duration { return r.p99 }),
		mean: dur(func(r result) time.Duration { return r.mean }),
		cpu:  dur(func(r result) time.Duration { return r.cpu }),
	}
}

// pairedRatios is the median, and the range, of a's throughput over b's
// taken round by round: the two runs of a round are seconds apart and share
// more of a shared machine's load than medians taken over minutes.
func pairedRatios(a, b []result) string {
	var v []float64
	for i := range min(len(a), len(b)) {
		v = append(v, a[i].rps/b[i].rps)
	}
	if len(v) == 0 {
		return "n/a"
	}
	med := median(v) // sorts v
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", med, v[0], v[len(v)-1])
}

// median sorts v and returns its median.
func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a.Seconds()/b.Seconds())
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }

func us1(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1000) }

// freePort returns a loopback address with a port that was free just now.
func freePort(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func dialOK(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}
