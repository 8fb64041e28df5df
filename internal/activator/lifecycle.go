package activator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
)

// StartError reports an instance that could not be made ready.
type StartError struct {
	App      string
	Instance string
	// Exited is true when the container exited during the start; ExitCode is its code.
	Exited   bool
	ExitCode int
	// LogTail holds the last lines the instance wrote, for operators (not for
	// the public answer of the gateway).
	LogTail string
	Err     error
}

func (e *StartError) Error() string {
	if e.Exited {
		return fmt.Sprintf("instance %s of %s exited with code %d before it was ready", e.Instance, e.App, e.ExitCode)
	}
	return fmt.Sprintf("start instance %s of %s: %v", e.Instance, e.App, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// Crash-loop back-off: after a second consecutive failure the next start
// waits backoffBase, doubling per further failure up to backoffMax.
const (
	backoffBase = time.Second
	backoffMax  = 5 * time.Minute
)

// beginStart brings in up in the background: a new instance is created and
// started, a stopped one started, a paused one unpaused. Callers hold ap.mu.
func (a *Activator) beginStart(ap *app, in *instance) {
	from, mode, addr0, cid := in.state, in.sleepMode, in.addr, in.containerID
	in.state = stateStarting
	in.parked = false
	cfg := ap.cfg
	if in.staged != nil {
		cfg = *in.staged
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(a.ctx, a.opts.StartTimeout)
		defer cancel()
		var phases []Phase
		var addr string
		var err error
		if from == stateSleeping && mode == "pause" {
			phases, addr, err = a.unpause(ctx, in.id, cid, addr0, cfg)
		} else {
			phases, addr, err = a.start(ctx, ap, in, cfg, from == stateNew)
		}

		ap.mu.Lock()
		defer ap.mu.Unlock()
		now := a.now()
		in.phases, in.readyAt = phases, now
		if err != nil {
			a.startFailed(ap, in, err, now)
			return
		}
		in.state = stateReady
		in.sleepMode = ""
		in.addr = addr
		if from != stateSleeping || mode != "pause" {
			in.startedAt = now
		}
		in.lastActive = now
		in.livenessFails = 0
		ap.failures, ap.backoffUntil, ap.lastError = 0, time.Time{}, ""
		a.log.Info("instance ready", "app", cfg.Name, "ns", cfg.Namespace, "instance", in.id, "cold_start", FormatPhases(phases))
		a.observeStart(cfg, phases)
		ap.broadcast()
	}()
}

// startFailed records a failed start or crash: the instance is dropped and
// removed, waiting requests learn of it, and the app backs off. Callers hold
// ap.mu.
func (a *Activator) startFailed(ap *app, in *instance, err error, now time.Time) {
	in.state = stateFailed
	in.err = err
	ap.drop(in)
	if in.staged != nil {
		// A revision being rolled out failed; the serving one is unaffected.
		if in.containerID != "" {
			a.removeLater(in.containerID)
		}
		ap.broadcast()
		return
	}
	ap.failures++
	if ap.failures >= 2 { // the first failure is retried at once
		ap.backoffUntil = now.Add(min(backoffBase<<min(ap.failures-2, 20), backoffMax))
	}
	ap.failSeq++
	ap.lastErr = err
	ap.lastError = err.Error()
	var se *StartError
	if errors.As(err, &se) && se.LogTail != "" {
		ap.lastError += "; last log lines:\n" + se.LogTail
	}
	a.log.Warn("instance failed", "app", ap.cfg.Name, "ns", ap.cfg.Namespace, "instance", in.id, "failures", ap.failures, "err", err)
	if in.containerID != "" {
		a.removeLater(in.containerID)
	}
	ap.broadcast()
}

// unpause thaws a paused instance. No readiness probe: its sockets were
// listening when it froze, and the kernel holds new connections until it
// thaws, so the request is forwarded as soon as the thaw is done.
func (a *Activator) unpause(ctx context.Context, instanceID, containerID, addr string, cfg App) ([]Phase, string, error) {
	p, ok := a.opts.Driver.(runtime.Pauser)
	if !ok {
		return nil, "", &StartError{App: cfg.Key(), Instance: instanceID, Err: errors.New("the driver cannot unpause")}
	}
	t := time.Now()
	if err := p.Unpause(ctx, containerID); err != nil {
		return nil, "", &StartError{App: cfg.Key(), Instance: instanceID, Err: err}
	}
	if addr == "" { // adopted while paused: the engine reports no address then
		st, err := a.opts.Driver.Inspect(ctx, containerID)
		if err == nil {
			addr = a.target(ctx, cfg, containerID, st).addr
		}
		if addr == "" {
			return nil, "", &StartError{App: cfg.Key(), Instance: instanceID, Err: fmt.Errorf("no address after unpause: %v", err)}
		}
	}
	return []Phase{{"unpause", time.Since(t)}}, addr, nil
}

// start creates (if create) and starts the container, then waits until it
// answers. It runs without ap.mu except to record the container ID.
func (a *Activator) start(ctx context.Context, ap *app, in *instance, cfg App, create bool) ([]Phase, string, error) {
	fail := func(err error) ([]Phase, string, error) {
		return nil, "", &StartError{App: cfg.Key(), Instance: in.id, Err: err}
	}
	var phases []Phase
	ap.mu.Lock()
	id := in.containerID
	ap.mu.Unlock()
	if create {
		t := time.Now()
		var err error
		ap.mu.Lock()
		key := in.key
		ap.mu.Unlock()
		spec, err := a.place(ctx, cfg.Namespace, a.instanceSpec(cfg, in.id, key))
		if err == nil {
			id, err = a.opts.Driver.Create(ctx, spec)
		}
		if err != nil {
			return fail(err)
		}
		ap.mu.Lock()
		in.containerID = id
		ap.mu.Unlock()
		phases = append(phases, Phase{"create", time.Since(t)})
	}
	t := time.Now()
	if err := a.opts.Driver.Start(ctx, id); err != nil {
		return fail(err)
	}
	phases = append(phases, Phase{"start", time.Since(t)})
	t = time.Now()
	addr, err := a.waitReady(ctx, cfg, in.id, id)
	if err != nil {
		return nil, "", err
	}
	phases = append(phases, Phase{"ready", time.Since(t)})
	return phases, addr, nil
}

// instanceSpec is what the driver is asked to create for one instance.
func (a *Activator) instanceSpec(cfg App, instanceID, key string) runtime.InstanceSpec {
	env := make(map[string]string, len(cfg.Spec.Env)+4)
	for k, v := range cfg.Spec.Env {
		env[k] = v
	}
	env["PORT"] = strconv.Itoa(cfg.Spec.EnvPortValue())
	env["BERTH_APP"] = cfg.Name
	env["BERTH_NAMESPACE"] = cfg.Namespace
	env["BERTH_REVISION"] = strconv.Itoa(cfg.Revision)
	env["BERTH_INSTANCE"] = instanceID
	if key != "" {
		env["BERTH_KEY"] = key
	}
	labels := make(map[string]string, len(cfg.Spec.Labels)+5)
	for k, v := range cfg.Spec.Labels {
		labels[k] = v
	}
	labels[runtime.LabelOwner] = a.opts.Owner
	labels[runtime.LabelNamespace] = cfg.Namespace
	labels[runtime.LabelApp] = cfg.Name
	labels[runtime.LabelRevision] = strconv.Itoa(cfg.Revision)
	labels[runtime.LabelInstance] = instanceID
	if key != "" {
		labels[runtime.LabelKey] = key
	}
	return runtime.InstanceSpec{
		Name:      "berth-" + cfg.Namespace + "-" + cfg.Name + "-" + instanceID,
		Image:     cfg.Image,
		Env:       env,
		Port:      int(cfg.Spec.Port), // 0 (auto): discovered by waitReady
		Isolation: cfg.Spec.Isolation,
		Resources: cfg.Spec.Resources(),
		Labels:    labels,
	}
}

// waitReady polls until the instance accepts connections (or answers its
// health path), watching the container so an exit fails fast. With
// `port: auto` it also discovers the port (see target).
func (a *Activator) waitReady(ctx context.Context, cfg App, instanceID, containerID string) (string, error) {
	var t readyTarget
	delay := 5 * time.Millisecond
	lastInspect := time.Time{}
	for {
		// Inspect (and discover) at once while there is nowhere to probe,
		// then every 200 ms.
		if t.addr == "" || time.Since(lastInspect) > 200*time.Millisecond {
			st, err := a.opts.Driver.Inspect(ctx, containerID)
			lastInspect = time.Now()
			if err != nil {
				return "", &StartError{App: cfg.Key(), Instance: instanceID, Err: err}
			}
			if st.State == runtime.StateExited {
				return "", &StartError{App: cfg.Key(), Instance: instanceID, Exited: true, ExitCode: st.ExitCode,
					LogTail: a.logTail(ctx, containerID), Err: errors.New("exited during start")}
			}
			t = a.target(ctx, cfg, containerID, st)
		}
		if t.addr != "" && probe(ctx, t.addr, cfg.Spec.Health.Path) {
			return t.addr, nil
		}
		select {
		case <-ctx.Done():
			return "", &StartError{App: cfg.Key(), Instance: instanceID, Err: notReadyError(cfg, a.opts.StartTimeout, t, ctx.Err())}
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

var probeClient = &http.Client{
	Timeout:       time.Second,
	Transport:     &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// probe reports whether addr accepts a TCP connection, or, with a health
// path, answers it with a status below 400.
func probe(ctx context.Context, addr, path string) bool {
	if path == "" {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return false
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode < 400
}

// logTail returns the last lines a container wrote, best effort.
func (a *Activator) logTail(ctx context.Context, containerID string) string {
	rc, err := a.opts.Driver.Logs(ctx, containerID, runtime.LogOptions{Tail: 20})
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 8<<10))
	return strings.TrimSpace(string(b))
}

// removeLater removes a container in the background.
func (a *Activator) removeLater(containerID string) {
	a.wg.Add(1)
	a.removals.begin(containerID)
	go func() {
		defer func() { a.removals.end(containerID, a.now()) }()
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(a.ctx), 30*time.Second)
		defer cancel()
		if err := a.opts.Driver.Remove(ctx, containerID); err != nil {
			a.log.Warn("remove container", "container", containerID, "err", err)
		}
	}()
}
