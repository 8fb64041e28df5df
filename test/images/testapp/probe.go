package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// dialResult tries a connection to addr — HOST:PORT over TCP, or
// unix:PATH — within 2s, and says how it went: "dial ADDR: ok" or
// "dial ADDR: failed: …".
func dialResult(addr string) string {
	network, target := "tcp", addr
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, target = "unix", p
	}
	c, err := net.DialTimeout(network, target, 2*time.Second)
	if err != nil {
		return fmt.Sprintf("dial %s: failed: %v", addr, err)
	}
	c.Close()
	return fmt.Sprintf("dial %s: ok", addr)
}

// probe answers GET /probe: the result of each dial=ADDR (see dialResult;
// dialgw=PORT dials the host of $BERTH_GATEWAY on PORT), then of each
// get=HOST, a GET of $BERTH_GATEWAY/ with Host: HOST, as
// "get HOST: STATUS BODY" or "get HOST: failed: …". It tests, from inside an
// app's container, what its network lets it reach.
func probe(w http.ResponseWriter, r *http.Request) {
	gw := os.Getenv("BERTH_GATEWAY")
	fmt.Fprintf(w, "BERTH_GATEWAY=%s\n", gw)
	q := r.URL.Query()
	for _, a := range q["dial"] {
		fmt.Fprintln(w, dialResult(a))
	}
	for _, port := range q["dialgw"] {
		u, err := url.Parse(gw)
		if err != nil || u.Hostname() == "" {
			fmt.Fprintf(w, "dialgw %s: failed: no BERTH_GATEWAY\n", port)
			continue
		}
		fmt.Fprintln(w, dialResult(net.JoinHostPort(u.Hostname(), port)))
	}
	hc := &http.Client{Timeout: 20 * time.Second}
	for _, host := range q["get"] {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, gw+"/", nil)
		if err != nil {
			fmt.Fprintf(w, "get %s: failed: %v\n", host, err)
			continue
		}
		req.Host = host
		resp, err := hc.Do(req)
		if err != nil {
			fmt.Fprintf(w, "get %s: failed: %v\n", host, err)
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		fmt.Fprintf(w, "get %s: %d %s\n", host, resp.StatusCode, strings.TrimSpace(string(body)))
	}
}
