// Package fake is an in-memory runtime.Driver and runtime.Builder for tests
// of pure logic and for scale simulations: containers are records that move
// between states on command, without processes. It honours the same contract
// as the real drivers (it passes runtimetest) and adds hooks to simulate what
// an engine does on its own: SetExit for a crash, AppendLog for output, Fail
// for engine errors, and Now for synthetic time.
package fake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
)

// DefaultAddr is the Addr of a running instance when AddrFunc is nil.
const DefaultAddr = "127.0.0.1:1"

// Driver is an in-memory driver. It is safe for concurrent use; set the
// exported hook fields before sharing it.
type Driver struct {
	// AddrFunc gives a running instance's Addr (default DefaultAddr).
	AddrFunc func(id string) string
	// Fail, if set, is called before every operation with its name
	// ("create", "start", "stop", "remove", "inspect", "list", "logs",
	// "resolve", "build", "ports") and the container ID, name or image ref it concerns;
	// a non-nil result is returned as the operation's error.
	Fail func(op, target string) error
	// Now is the clock for StartedAt and FinishedAt (default time.Now).
	Now func() time.Time
	// ListeningFunc, if set, gives the ports ListeningPorts reports for a
	// running container that SetListening was not called for.
	ListeningFunc func(id string) []int

	mu         sync.Mutex
	images     map[string]runtime.Image // by ref and by ID
	containers map[string]*instance     // by ID
}

type instance struct {
	status runtime.Status
	spec   runtime.InstanceSpec
	port   int
	cpu    time.Duration
	// listening, when set by SetListening, is what ListeningPorts reports.
	listening []int
	logs      []string
	// changed is closed and replaced whenever logs or state change, waking
	// followers.
	changed chan struct{}
}

var (
	_ runtime.Driver         = (*Driver)(nil)
	_ runtime.Builder        = (*Driver)(nil)
	_ runtime.PortDiscoverer = (*Driver)(nil)
)

// New returns an empty driver.
func New() *Driver {
	return &Driver{images: map[string]runtime.Image{}, containers: map[string]*instance{}}
}

// Name returns "fake".
func (d *Driver) Name() string { return "fake" }

// AddImage makes img resolvable by ref and by its ID.
func (d *Driver) AddImage(ref string, img runtime.Image) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.images[ref] = img
	if img.ID != "" {
		d.images[img.ID] = img
	}
}

// SetExit makes a running (or paused) container exit with code, as if its
// process had ended on its own.
func (d *Driver) SetExit(id string, code int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup("set exit of", id)
	if err != nil {
		return err
	}
	if c.status.State == runtime.StateRunning || c.status.State == runtime.StatePaused {
		d.exit(c, code)
	}
	return nil
}

// AppendLog adds a line to the container's log.
func (d *Driver) AppendLog(id, line string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup("append log of", id)
	if err != nil {
		return err
	}
	c.log(line)
	return nil
}

// Spec returns the spec a container (by ID or name) was created with.
func (d *Driver) Spec(id string) (runtime.InstanceSpec, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup("spec of", id)
	if err != nil {
		return runtime.InstanceSpec{}, err
	}
	return c.spec, nil
}

// ResolveImage returns an image added with AddImage or made by Build.
func (d *Driver) ResolveImage(ctx context.Context, ref string) (runtime.Image, error) {
	if err := d.check(ctx, "resolve", ref); err != nil {
		return runtime.Image{}, fmt.Errorf("resolve image %s: %w", ref, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	img, ok := d.images[ref]
	if !ok {
		return runtime.Image{}, fmt.Errorf("resolve image %s: %w", ref, runtime.ErrNotFound)
	}
	return img, nil
}

// Create records a created container for spec; the image must be known.
func (d *Driver) Create(ctx context.Context, spec runtime.InstanceSpec) (string, error) {
	if err := d.check(ctx, "create", spec.Name); err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	if spec.Image == "" || spec.Port < 0 || spec.Port > 65535 {
		return "", fmt.Errorf("create container %s: %w: image %q, port %d", spec.Name, runtime.ErrInvalid, spec.Image, spec.Port)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.images[spec.Image]; !ok {
		return "", fmt.Errorf("create container %s: image %s: %w", spec.Name, spec.Image, runtime.ErrNotFound)
	}
	id := newID()
	name := spec.Name
	if name == "" {
		name = "fake-" + id[:12]
	}
	for _, c := range d.containers {
		if c.status.Name == name {
			return "", fmt.Errorf("create container %s: name already in use by %s", name, c.status.ID)
		}
	}
	d.containers[id] = &instance{
		status:  runtime.Status{ID: id, Name: name, Labels: maps.Clone(spec.Labels), State: runtime.StateCreated},
		spec:    spec,
		port:    spec.Port,
		changed: make(chan struct{}),
	}
	return id, nil
}

// Start moves a created or exited container to running and, when it has a
// port, logs "listening on :PORT", as the test app does; a running one is
// left alone.
func (d *Driver) Start(ctx context.Context, id string) error {
	if err := d.check(ctx, "start", id); err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup("start container", id)
	if err != nil {
		return err
	}
	switch c.status.State {
	case runtime.StateRunning:
		return nil
	case runtime.StatePaused:
		return fmt.Errorf("start container %s: %w: container is paused", id, runtime.ErrInvalid)
	}
	c.status.State = runtime.StateRunning
	c.status.ExitCode = 0
	c.status.StartedAt = d.now()
	if c.port > 0 {
		c.log(fmt.Sprintf("listening on :%d", c.port))
	} else {
		c.notify()
	}
	return nil
}

// Stop makes a running container exit with code 0 at once (the fake has no
// process to wait for); other states are left alone.
func (d *Driver) Stop(ctx context.Context, id string, grace time.Duration) error {
	if err := d.check(ctx, "stop", id); err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup("stop container", id)
	if err != nil {
		return err
	}
	if c.status.State == runtime.StateRunning || c.status.State == runtime.StatePaused {
		d.exit(c, 0)
	}
	return nil
}

// Remove forgets the container; an unknown ID is not an error.
func (d *Driver) Remove(ctx context.Context, id string) error {
	if err := d.check(ctx, "remove", id); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup("remove container", id)
	if err != nil {
		return nil
	}
	delete(d.containers, c.status.ID)
	c.status.State = runtime.StateExited
	c.notify()
	return nil
}

// Inspect reports the container's status.
func (d *Driver) Inspect(ctx context.Context, id string) (runtime.Status, error) {
	if err := d.check(ctx, "inspect", id); err != nil {
		return runtime.Status{}, fmt.Errorf("inspect container %s: %w", id, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup("inspect container", id)
	if err != nil {
		return runtime.Status{}, err
	}
	return d.snapshot(c), nil
}

// List returns every container whose labels include selector, sorted by name.
func (d *Driver) List(ctx context.Context, selector map[string]string) ([]runtime.Status, error) {
	if err := d.check(ctx, "list", ""); err != nil {
		return nil, fmt.Errorf("list containers %v: %w", selector, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []runtime.Status
next:
	for _, c := range d.containers {
		for k, v := range selector {
			if got, ok := c.status.Labels[k]; !ok || got != v {
				continue next
			}
		}
		out = append(out, d.snapshot(c))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// lookup finds a container by ID or name; d.mu must be held.
func (d *Driver) lookup(what, id string) (*instance, error) {
	if c, ok := d.containers[id]; ok {
		return c, nil
	}
	for _, c := range d.containers {
		if c.status.Name == id {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%s %s: %w", what, id, runtime.ErrNotFound)
}

func (d *Driver) snapshot(c *instance) runtime.Status {
	st := c.status
	st.Labels = maps.Clone(c.status.Labels)
	if st.State == runtime.StateRunning {
		st.Addr = DefaultAddr
		if d.AddrFunc != nil {
			st.Addr = d.AddrFunc(st.ID)
		}
		if host, _, err := net.SplitHostPort(st.Addr); err == nil {
			st.IP = host
		}
	}
	return st
}

// SetListening sets the ports ListeningPorts reports for the container, as
// if its app listened there (none: nothing listens yet).
func (d *Driver) SetListening(id string, ports ...int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup("set listening ports of", id)
	if err != nil {
		return err
	}
	c.listening = append([]int{}, ports...)
	return nil
}

// ListeningPorts reports, for a running container, the ports given to
// SetListening, else those of ListeningFunc; without either, the app is
// taken to listen on the spec's port, or, if that is 0, on its Addr's port.
func (d *Driver) ListeningPorts(ctx context.Context, id string) ([]int, error) {
	if err := d.check(ctx, "ports", id); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c, err := d.lookup("listening ports of", id)
	if err != nil {
		return nil, err
	}
	if c.status.State != runtime.StateRunning {
		return nil, fmt.Errorf("listening ports of %s: %w: container is not running", id, runtime.ErrInvalid)
	}
	switch {
	case c.listening != nil:
		return slices.Clone(c.listening), nil
	case d.ListeningFunc != nil:
		return d.ListeningFunc(id), nil
	case c.port > 0:
		return []int{c.port}, nil
	}
	_, p, err := net.SplitHostPort(d.snapshot(c).Addr)
	if err != nil {
		return []int{}, nil
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return []int{}, nil
	}
	return []int{port}, nil
}

func (d *Driver) exit(c *instance, code int) {
	c.status.State = runtime.StateExited
	c.status.ExitCode = code
	c.status.FinishedAt = d.now()
	c.notify()
}

func (d *Driver) check(ctx context.Context, op, target string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d.Fail != nil {
		return d.Fail(op, target)
	}
	return nil
}

func (d *Driver) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (c *instance) log(line string) {
	c.logs = append(c.logs, line)
	c.notify()
}

func (c *instance) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
