package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
	dockerclient "github.com/docker/docker/client"

	"github.com/berth-dev/berth/client"
)

// TestNamespaces drives the multi-tenancy issue end to end on real Docker:
// network isolation between namespaces (and from the API and the Docker
// socket), service-to-service calls through the gateway by name, scoped and
// revoked tokens, every quota, and the removal of a namespace.
func TestNamespaces(t *testing.T) {
	// The gateway listens on every address so that containers reach it at
	// their bridge's gateway IP; the API stays on loopback.
	s, dc := newPlatform(t, "--http", "0.0.0.0:0")
	suffix := randomHex(t)
	nsA, nsB := "e2e-a-"+suffix, "e2e-b-"+suffix
	t.Cleanup(func() {
		s.stop(syscall.SIGTERM) // before its containers go, so that it starts none
		removeNetworks(t, dc, s.info.Owner, "berth-ns-"+nsA, "berth-ns-"+nsB)
	})
	admin := s.api(t)
	ctx := context.Background()

	s.mustBerth("ns", "create", nsA, "--max-apps", "2", "--max-instances", "2", "--max-jobs", "1")
	s.mustBerth("ns", "create", nsB, "--max-requests", "1")
	if _, errOut, code := s.berth("ns", "create", "Bad_Name"); code != 1 || !strings.Contains(errOut, `namespace name "Bad_Name"`) {
		t.Errorf("ns create Bad_Name: exit %d, %q", code, errOut)
	}
	out := s.mustBerth("deploy", "-n", nsA, appDir(t, "name: probe\n"))
	if want := "http://probe." + nsA + ".localhost:"; !strings.Contains(out, want) {
		t.Errorf("deploy in %s printed %q; want a URL %s…", nsA, out, want)
	}
	s.mustBerth("deploy", "-n", nsA, appDir(t, "name: web\nscale: {concurrency: 1, max: 3}\n"))
	s.mustBerth("deploy", "-n", nsB, appDir(t, "name: web\nscale: {concurrency: 1}\n"))
	hostA, hostB, probeA := "web."+nsA+".localhost", "web."+nsB+".localhost", "probe."+nsA+".localhost"
	mustGet(t, s, hostB, "/", http.StatusOK)
	appB, err := admin.InNamespace(nsB).App(ctx, "web")
	addrB := ""
	for _, in := range appB.Instances {
		if in.Addr != "" {
			addrB = in.Addr
		}
	}
	if err != nil || addrB == "" {
		t.Fatalf("app web of %s has no instance with an address: %v", nsB, err)
	}
	_, apiPort, _ := strings.Cut(strings.TrimPrefix(s.info.API, "http://127.0.0.1"), ":")
	_, gwPort, _ := strings.Cut(strings.TrimPrefix(s.info.Gateway, "http://127.0.0.1"), ":")

	t.Run("isolation", func(t *testing.T) {
		q := url.Values{}
		q.Add("dial", addrB)                       // a container of namespace B
		q.Add("dial", "127.0.0.1:"+apiPort)        // the API, as the container's own loopback
		q.Add("dialgw", apiPort)                   // the API port at the host's address on the bridge
		q.Add("dialgw", "2375")                    // a Docker engine on TCP
		q.Add("dial", "unix:/var/run/docker.sock") // the Docker socket
		q.Add("dialgw", gwPort)                    // control: the gateway is reachable
		q.Add("get", "web."+nsA+".internal")       // an app of its own namespace, by name
		q.Add("get", "web."+nsB+".internal")       // another namespace's internal name
		body := mustGet(t, s, probeA, "/probe?"+q.Encode(), http.StatusOK)
		t.Logf("probe from inside %s:\n%s", nsA, body)
		for _, want := range []string{
			"dial " + addrB + ": failed",
			"dial 127.0.0.1:" + apiPort + ": failed",
			":" + apiPort + ": failed",
			":2375: failed",
			"dial unix:/var/run/docker.sock: failed",
			":" + gwPort + ": ok",
			"get web." + nsA + ".internal: 200 hello from",
			"get web." + nsB + ".internal: 404",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("probe from %s lacks %q:\n%s", nsA, want, body)
			}
		}
		// Outside every namespace the internal names do not exist.
		mustGet(t, s, "web."+nsA+".internal", "/", http.StatusNotFound)
	})

	t.Run("tokens", func(t *testing.T) {
		secret, errOut, code := s.berth("tokens", "create", "--ns", nsA)
		id := regexp.MustCompile(`tok-[0-9a-f]+`).FindString(errOut)
		secret = strings.TrimSpace(secret)
		if code != 0 || !strings.HasPrefix(secret, "berth_") || id == "" {
			t.Fatalf("tokens create: exit %d, %q, %q", code, secret, errOut)
		}
		ca, err := client.New(s.info.API, secret, client.WithNamespace(nsA))
		if err != nil {
			t.Fatal(err)
		}
		if apps, err := ca.Apps(ctx); err != nil || len(apps) != 2 {
			t.Fatalf("own namespace apps: %+v, %v", apps, err)
		}
		cb := ca.InNamespace(nsB)
		_, listErr := cb.Apps(ctx)
		_, getErr := cb.App(ctx, "web")
		_, deployErr := cb.Deploy(ctx, client.DeployRequest{Manifest: []byte("name: x\nimage: nope\n")}, nil)
		rmErr := cb.RemoveApp(ctx, "web")
		_, defaultErr := ca.InNamespace("").Apps(ctx)
		_, missingErr := admin.InNamespace("e2e-none-" + suffix).Apps(ctx)
		for what, err := range map[string]error{"list": listErr, "read": getErr, "deploy": deployErr, "delete": rmErr, "list default": defaultErr} {
			var p *client.Problem
			if !errors.As(err, &p) || p.Status != http.StatusNotFound || strings.Contains(p.Detail, "web") {
				t.Errorf("%s in another namespace with a token of %s: %v; want 404 naming no app", what, nsA, err)
			}
		}
		if p := new(client.Problem); !errors.As(missingErr, &p) || p.Status != 404 {
			t.Errorf("missing namespace: %v", missingErr)
		}
		mustGet(t, s, hostB, "/", http.StatusOK) // B's app is still there
		if _, errOut, code := s.berth("apps", "-n", nsB, "--token", secret); code != 1 || !strings.Contains(errOut, "Not found") {
			t.Errorf("CLI with A's token in B: exit %d, %q", code, errOut)
		}
		read, _, _ := s.berth("tokens", "create", "--ns", nsA, "--role", "read")
		cr, _ := client.New(s.info.API, strings.TrimSpace(read), client.WithNamespace(nsA))
		if err := cr.RemoveApp(ctx, "web"); !isStatus(err, http.StatusForbidden) {
			t.Errorf("rm with a read token: %v; want 403", err)
		}
		s.mustBerth("tokens", "revoke", id)
		if _, err := ca.Apps(ctx); !isStatus(err, http.StatusUnauthorized) {
			t.Errorf("revoked token: %v; want 401", err)
		}
		if ls := s.mustBerth("tokens", "ls"); !strings.Contains(ls, id) || strings.Contains(ls, secret) {
			t.Errorf("tokens ls:\n%s", ls)
		}
		if log := s.logText(); !strings.Contains(log, "token="+id) || strings.Contains(log, secret) {
			t.Errorf("the server log must name the token %s and never its secret", id)
		}
	})

	t.Run("quotas", func(t *testing.T) {
		// max_apps: A has two.
		_, errOut, code := s.berth("deploy", "-n", nsA, appDir(t, "name: third\n"))
		if code != 1 || !strings.Contains(errOut, "max_apps=2") {
			t.Errorf("third app in %s: exit %d, %q; want a max_apps=2 quota error", nsA, code, errOut)
		}
		mustGet(t, s, hostB, "/", http.StatusOK)

		// max_instances: probe and web hold A's two; a second concurrent
		// request to web (concurrency 1) would need a third.
		release := holdRequest(t, s, hostA)
		eventually(t, 30*time.Second, "a request in flight at web of "+nsA, func() bool {
			a, err := admin.InNamespace(nsA).App(ctx, "web")
			return err == nil && a.InFlight == 1
		})
		body := mustGet(t, s, hostA, "/", http.StatusTooManyRequests)
		if !strings.Contains(body, `"quota":"max_instances"`) || !strings.Contains(body, `"limit":2`) {
			t.Errorf("over max_instances: %s", body)
		}
		mustGet(t, s, hostB, "/", http.StatusOK)
		release()

		// max_requests: B allows one in flight.
		release = holdRequest(t, s, hostB)
		eventually(t, 30*time.Second, "a request in flight in "+nsB, func() bool {
			n, err := admin.GetNamespace(ctx, nsB)
			return err == nil && n.Usage.Requests == 1
		})
		body = mustGet(t, s, hostB, "/", http.StatusTooManyRequests)
		if !strings.Contains(body, `"quota":"max_requests"`) || !strings.Contains(body, `"limit":1`) {
			t.Errorf("over max_requests: %s", body)
		}
		mustGet(t, s, probeA, "/", http.StatusOK)
		release()
		// The gateway counts the held request out once it notices the client left.
		eventually(t, 30*time.Second, "no request in flight in "+nsB, func() bool {
			n, err := admin.GetNamespace(ctx, nsB)
			return err == nil && n.Usage.Requests == 0
		})
		mustGet(t, s, hostB, "/", http.StatusOK)

		// max_jobs: with one execution of A active, another is refused
		// with 429 naming the quota; once it ends, A may run again.
		s.mustBerth("deploy", "-n", nsA, appDir(t, "kind: job\nname: sleeper\nretries: 0\nargs: [job, sleep=3s]\n"))
		first := strings.TrimSpace(s.mustBerth("jobs", "run", "-n", nsA, "sleeper"))
		cA := admin.InNamespace(nsA)
		eventually(t, 60*time.Second, "the first execution to run", func() bool {
			ex, err := cA.Execution(ctx, first)
			return err == nil && ex.Status == "running"
		})
		if _, errOut, code := s.berth("jobs", "run", "-n", nsA, "sleeper"); code != 1 || !strings.Contains(errOut, "max_jobs=1") {
			t.Errorf("second execution while the first runs: exit %d, %q; want 429 naming max_jobs=1", code, errOut)
		}
		if ls := s.mustBerth("ns", "ls"); !regexp.MustCompile(nsA + `\s+2/2\s+2/2\s+0/-\s+1/1`).MatchString(ls) {
			t.Errorf("ns ls does not show %s at its quotas:\n%s", nsA, ls)
		}
		if done := finals(t, cA, []string{first}, 2*time.Minute); done[first].Status != "succeeded" {
			t.Errorf("first execution: %+v; want succeeded", done[first])
		}
		if _, errOut, code := s.berth("jobs", "run", "-n", nsA, "sleeper"); code != 0 {
			t.Errorf("a run after the first ended: exit %d, %q; want it accepted", code, errOut)
		}
	})

	t.Run("remove", func(t *testing.T) {
		if _, errOut, code := s.berth("ns", "rm", nsB); code != 1 || !strings.Contains(errOut, "--yes") {
			t.Errorf("ns rm without --yes and no terminal: exit %d, %q", code, errOut)
		}
		s.mustBerth("ns", "rm", nsB, "--yes")
		mustGet(t, s, hostB, "/", http.StatusNotFound)
		eventually(t, 30*time.Second, "the containers of "+nsB+" to go", func() bool {
			for _, c := range s.containers(t, dc, "web") {
				if c.Labels["dev.berth.namespace"] == nsB {
					return false
				}
			}
			return true
		})
		if _, err := dc.NetworkInspect(ctx, "berth-ns-"+nsB, network.InspectOptions{}); err == nil {
			t.Errorf("network berth-ns-%s is still there", nsB)
		}
		if _, err := dc.ImageInspect(ctx, "berth.local/"+nsB+"/web:r1"); !cerrdefs.IsNotFound(err) {
			t.Errorf("image berth.local/%s/web:r1 is still there (%v)", nsB, err)
		}
		mustGet(t, s, hostA, "/", http.StatusOK)
		s.mustBerth("ns", "rm", nsA, "--yes")
	})
}

// mustGet sends GET through the gateway and checks the status.
func mustGet(t *testing.T, s *berthServer, host, path string, status int) string {
	t.Helper()
	resp, body, err := s.get(host, path)
	if err != nil || resp.StatusCode != status {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("GET %s%s: %d %v %q; want %d", host, path, code, err, body, status)
	}
	return body
}

// holdRequest keeps a slow request to host in flight until release is
// called (and returns once it has ended).
func holdRequest(t *testing.T, s *berthServer, host string) (release func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.info.Gateway+"/slow?ms=60000", nil)
		req.Host = host
		if resp, err := httpClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	var once sync.Once
	release = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(release)
	return release
}

func isStatus(err error, status int) bool {
	var p *client.Problem
	return errors.As(err, &p) && p.Status == status
}

func randomHex(t *testing.T) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// removeNetworks removes the server's containers, then the named networks,
// in case the test ended before `ns rm` did.
func removeNetworks(t *testing.T, dc *dockerclient.Client, owner string, names ...string) {
	removeOwned(t, dc, owner)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range names {
		if err := dc.NetworkRemove(ctx, n); err != nil && !strings.Contains(err.Error(), "not found") {
			t.Logf("cleanup: remove network %s: %v", n, fmt.Sprint(err))
		}
	}
}
