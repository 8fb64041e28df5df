package docker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/runtime"
)

var _ runtime.PortDiscoverer = (*Driver)(nil)

// procRoot is where the host's /proc is.
const procRoot = "/proc"

// ListeningPorts reads the TCP socket tables of the container's network
// namespace through its init process: /proc/PID/net/tcp and tcp6 on the
// host. That needs the server to run in the host's PID namespace with the
// right to read other processes' /proc entries (root), as it does beside
// dockerd. Under gVisor the init process is the sandbox, which uses the host
// network stack (scripts/setup.sh registers runsc with --network=host), so
// the app's listening sockets show there as well.
func (d *Driver) ListeningPorts(ctx context.Context, id string) ([]int, error) {
	c, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("listening ports of %s: %w", id, engineErr(err))
	}
	if c.State == nil || !c.State.Running || c.State.Pid <= 0 {
		return nil, fmt.Errorf("listening ports of %s: %w: container is not running", id, runtime.ErrInvalid)
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		path := fmt.Sprintf("%s/%d/net/%s", procRoot, c.State.Pid, table)
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) && table == "tcp6" {
			continue // IPv6 disabled
		}
		if err != nil {
			return nil, fmt.Errorf("listening ports of %s: %w", id, err)
		}
		ps, err := parseListening(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("listening ports of %s: %s: %w", id, path, err)
		}
		ports = append(ports, ps...)
	}
	slices.Sort(ports)
	return slices.Compact(ports), nil
}

// tcpListen is the kernel's TCP_LISTEN state in /proc/net/tcp ("st" column).
const tcpListen = "0A"

// parseListening reads a /proc/net/tcp or tcp6 table and returns the local
// ports of its listening sockets, in table order. A line is
// "sl local_address rem_address st …" with addresses as HEXIP:HEXPORT.
func parseListening(r io.Reader) ([]int, error) {
	var ports []int
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if first {
			first = false
			if len(fields) > 0 && fields[0] == "sl" {
				continue // header
			}
		}
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 4 {
			return nil, fmt.Errorf("line %q: want at least 4 fields", sc.Text())
		}
		if fields[3] != tcpListen {
			continue
		}
		i := strings.LastIndexByte(fields[1], ':')
		if i < 0 {
			return nil, fmt.Errorf("local address %q: want HEXIP:HEXPORT", fields[1])
		}
		port, err := strconv.ParseUint(fields[1][i+1:], 16, 16)
		if err != nil || port == 0 {
			return nil, fmt.Errorf("local address %q: bad port", fields[1])
		}
		ports = append(ports, int(port))
	}
	return ports, sc.Err()
}
