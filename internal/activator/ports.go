package activator

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/runtime"
)

// readyTarget is where waitReady probes an instance: its address, and for a
// discovered port whether a listening socket was seen.
type readyTarget struct {
	addr string
	// discovered is the listening port found by port discovery, or 0.
	discovered int
}

// target works out where to probe a running instance. With a fixed port it
// is the driver's Addr. With `port: auto` it asks the driver which ports the
// container listens on and takes $PORT if it is one of them, else the lowest;
// while none is seen yet, or when the driver cannot tell, it tries $PORT.
func (a *Activator) target(ctx context.Context, cfg App, containerID string, st runtime.Status) readyTarget {
	if !cfg.Spec.Port.Auto() {
		return readyTarget{addr: st.Addr}
	}
	if st.IP == "" {
		return readyTarget{}
	}
	fallback := readyTarget{addr: net.JoinHostPort(st.IP, strconv.Itoa(cfg.Spec.EnvPortValue()))}
	pd, ok := a.opts.Driver.(runtime.PortDiscoverer)
	if !ok {
		return fallback
	}
	ports, err := pd.ListeningPorts(ctx, containerID)
	if err != nil {
		a.log.Debug("port discovery", "app", cfg.Name, "ns", cfg.Namespace, "container", containerID, "err", err)
		return fallback
	}
	port := pickPort(ports, cfg.Spec.EnvPortValue())
	if port == 0 {
		return fallback
	}
	return readyTarget{addr: net.JoinHostPort(st.IP, strconv.Itoa(port)), discovered: port}
}

// pickPort chooses the port to serve among those listening: preferred ($PORT)
// if it is one, else the lowest; 0 if none.
func pickPort(listening []int, preferred int) int {
	if len(listening) == 0 {
		return 0
	}
	if slices.Contains(listening, preferred) {
		return preferred
	}
	return slices.Min(listening)
}

// notReadyError explains a start that timed out.
func notReadyError(cfg App, timeout time.Duration, t readyTarget, err error) error {
	spec := cfg.Spec
	switch {
	case !spec.Port.Auto():
		return fmt.Errorf("not ready within %s (is the app listening on port %d?): %w", timeout, int(spec.Port), err)
	case t.discovered == 0:
		return fmt.Errorf("nothing listened on a TCP port within %s (port discovery watched the container's sockets and tried $PORT=%d); "+
			"if the app listens on a port Berth cannot see, set it with port: in %s: %w", timeout, spec.EnvPortValue(), manifest.DefaultFile, err)
	case spec.Health.Path != "":
		return fmt.Errorf("listening on port %d (discovered) but %s did not answer below 400 within %s; if that is not the app's port, set port: in %s: %w",
			t.discovered, spec.Health.Path, timeout, manifest.DefaultFile, err)
	default:
		return fmt.Errorf("listening on port %d (discovered) but not accepting connections within %s: %w", t.discovered, timeout, err)
	}
}

// addrPort is the port of a host:port, or 0.
func addrPort(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
