package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestLargeBodiesStream: a 100 MB upload to a sleeping app and a 100 MB
// download pass through the gateway intact, while the server's resident
// memory grows by far less than a body: the bodies are streamed, not held.
func TestLargeBodiesStream(t *testing.T) {
	const size = 100 << 20
	const maxGrowth = 32 << 20
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: big\nlimits: {idle_timeout: 1s}\n"))
	if resp, _, err := s.get("big.localhost", "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	waitAsleep(t, s, dc, "big")

	pid := s.cmd.Process.Pid
	before := procStatusKB(t, pid, "VmRSS")
	want := sha256.New()
	io.Copy(want, io.LimitReader(&pattern{}, size))
	wantSum := hex.EncodeToString(want.Sum(nil))

	// Upload, waking the app: the gateway holds the request through the
	// start, then streams the body.
	req, err := http.NewRequest(http.MethodPost, s.info.Gateway+"/sink", io.LimitReader(&pattern{}, size))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "big.localhost"
	req.ContentLength = size
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != fmt.Sprintf("%d %s", size, wantSum) {
		t.Fatalf("upload: %d %q; want the app to have read %d bytes with sha256 %s", resp.StatusCode, body, size, wantSum)
	}

	// Download.
	req, _ = http.NewRequest(http.MethodGet, s.info.Gateway+"/bytes?n="+strconv.Itoa(size), nil)
	req.Host = "big.localhost"
	resp, err = httpClient.Do(req)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	if err != nil || n != size || hex.EncodeToString(got.Sum(nil)) != wantSum {
		t.Fatalf("download: %d bytes, %v; want %d bytes with sha256 %s", n, err, size, wantSum)
	}

	peak := procStatusKB(t, pid, "VmHWM")
	if growth := (peak - before) << 10; growth > maxGrowth {
		t.Fatalf("server memory peaked at %d KiB from %d KiB (+%d MiB) moving 2×100 MB; want less than +%d MiB", peak, before, growth>>20, maxGrowth>>20)
	}
	t.Logf("server RSS %d KiB before, peak %d KiB after 2×100 MB", before, peak)
}

// pattern is the testapp's endless byte pattern: 0, 1, …, 250, 0, 1, …
type pattern struct{ off int64 }

func (r *pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte((r.off + int64(i)) % 251)
	}
	r.off += int64(len(p))
	return len(p), nil
}

// procStatusKB reads a "kB" field (VmRSS, VmHWM) of /proc/PID/status.
func procStatusKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s of %d: %q: %v", field, pid, v, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
