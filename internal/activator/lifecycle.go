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

// beginStart moves in to starting and starts (or wakes) it in the
// background. Callers hold ap.mu.
func (a *Activator) beginStart(ap *app, in *instance) {
	create := in.state == stateNew
	in.state = stateStarting
	in.transition = make(chan struct{})
	cfg := ap.cfg
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(a.ctx, a.opts.StartTimeout)
		defer cancel()
		phases, addr, err := a.start(ctx, ap, in, cfg, create)

		ap.mu.Lock()
		defer ap.mu.Unlock()
		in.phases = phases
		if err != nil {
			in.state = stateFailed
			in.err = err
			ap.lastError = err.Error()
			var se *StartError
			if errors.As(err, &se) && se.LogTail != "" {
				ap.lastError += "; last log lines:\n" + se.LogTail
			}
			ap.drop(in)
			a.log.Warn("instance failed to start", "app", cfg.Name, "ns", cfg.Namespace, "instance", in.id, "err", err)
			if in.containerID != "" {
				a.removeLater(in.containerID)
			}
		} else {
			in.state = stateReady
			in.addr = addr
			in.startedAt = a.now()
			in.lastActive = in.startedAt
			ap.lastError = ""
			a.log.Info("instance ready", "app", cfg.Name, "ns", cfg.Namespace, "instance", in.id, "cold_start", FormatPhases(phases))
		}
		close(in.transition)
	}()
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
		id, err = a.opts.Driver.Create(ctx, a.instanceSpec(cfg, in.id))
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
func (a *Activator) instanceSpec(cfg App, instanceID string) runtime.InstanceSpec {
	env := make(map[string]string, len(cfg.Spec.Env)+4)
	for k, v := range cfg.Spec.Env {
		env[k] = v
	}
	env["PORT"] = strconv.Itoa(cfg.Spec.EnvPortValue())
	env["BERTH_APP"] = cfg.Name
	env["BERTH_NAMESPACE"] = cfg.Namespace
	env["BERTH_REVISION"] = strconv.Itoa(cfg.Revision)
	env["BERTH_INSTANCE"] = instanceID
	labels := make(map[string]string, len(cfg.Spec.Labels)+5)
	for k, v := range cfg.Spec.Labels {
		labels[k] = v
	}
	labels[runtime.LabelOwner] = a.opts.Owner
	labels[runtime.LabelNamespace] = cfg.Namespace
	labels[runtime.LabelApp] = cfg.Name
	labels[runtime.LabelRevision] = strconv.Itoa(cfg.Revision)
	labels[runtime.LabelInstance] = instanceID
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
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(a.ctx), 30*time.Second)
		defer cancel()
		if err := a.opts.Driver.Remove(ctx, containerID); err != nil {
			a.log.Warn("remove container", "container", containerID, "err", err)
		}
	}()
}
