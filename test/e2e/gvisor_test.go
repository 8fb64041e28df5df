package e2e

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/runtime/docker"
)

// TestGVisorIsolation: an app with isolation: gvisor runs under the runsc
// runtime and answers, from zero and from sleep, and the kernel it sees is
// gVisor's, not the host's. Its port is discovered as well (runsc is
// registered with the host network stack, so the sandbox's sockets show in
// its network namespace's tables). If the engine lacks runsc this fails:
// run scripts/setup.sh.
func TestGVisorIsolation(t *testing.T) {
	host := hostKernel(t)
	s, dc := newPlatform(t)
	s.mustBerth("deploy", appDir(t, "name: sandboxed\nisolation: gvisor\nenv: {LISTEN_PORT: \"9124\"}\nlimits: {idle_timeout: 1s}\n"))
	for _, when := range []string{"from zero", "from sleep"} {
		if when == "from sleep" {
			waitAsleep(t, s, dc, "sandboxed")
		}
		resp, kernel, err := s.get("sandboxed.localhost", "/uname")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v %q", when, resp, err, kernel)
		}
		if kernel == "" || kernel == host || strings.HasPrefix(kernel, "unknown") {
			t.Fatalf("%s: the app sees kernel %q, the host runs %q; want gVisor's own", when, kernel, host)
		}
		t.Logf("%s: app kernel %q, host kernel %q", when, kernel, host)
	}
	cs := s.containers(t, dc, "sandboxed")
	if len(cs) != 1 {
		t.Fatalf("containers: %+v", cs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dc.ContainerInspect(ctx, cs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.HostConfig.Runtime != docker.GVisorRuntime {
		t.Fatalf("container runtime %q; want %q", c.HostConfig.Runtime, docker.GVisorRuntime)
	}
	// A runc app on the same server still sees the host's kernel.
	s.mustBerth("deploy", appDir(t, "name: plain\n"))
	if _, kernel, err := s.get("plain.localhost", "/uname"); err != nil || kernel != host {
		t.Fatalf("runc app sees kernel %q (%v); want the host's %q", kernel, err, host)
	}
}

// hostKernel is the release of the kernel the tests run on.
func hostKernel(t *testing.T) string {
	t.Helper()
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}
