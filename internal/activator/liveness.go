package activator

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/runtime"
)

// probeLiveness starts a liveness probe for every ready instance whose app
// has health.liveness_path and whose last probe is health.interval old. An
// instance that fails health.failures probes in a row is replaced.
func (a *Activator) probeLiveness(now time.Time) {
	for _, ap := range a.snapshot() {
		ap.mu.Lock()
		h := ap.cfg.Spec.Health
		if h.LivenessPath == "" {
			ap.mu.Unlock()
			continue
		}
		for _, in := range ap.instances {
			if in.state != stateReady || in.probing || now.Sub(in.lastProbe) < h.Interval.D() {
				continue
			}
			in.probing, in.lastProbe = true, now
			addr := in.addr
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				ctx, cancel := context.WithTimeout(a.ctx, min(h.Interval.D(), 5*time.Second))
				ok := probe(ctx, addr, h.LivenessPath)
				cancel()
				ap.mu.Lock()
				defer ap.mu.Unlock()
				in.probing = false
				if ok {
					in.livenessFails = 0
					return
				}
				in.livenessFails++
				if in.livenessFails >= h.Failures && in.state == stateReady {
					err := fmt.Errorf("instance %s failed its liveness probe %s %d times in a row", in.id, h.LivenessPath, in.livenessFails)
					a.startFailed(ap, in, err, a.now())
				}
			}()
		}
		ap.mu.Unlock()
	}
}

// sampleCPU reads every ready instance's CPU time and records each app's
// average use as a fraction of its slot, for scale.cpu_target.
func (a *Activator) sampleCPU(ctx context.Context, now time.Time) {
	reader, ok := a.opts.Driver.(runtime.CPUReader)
	if !ok {
		return
	}
	for _, ap := range a.snapshot() {
		ap.mu.Lock()
		if ap.cfg.Spec.Scale.CPUTarget == 0 {
			ap.mu.Unlock()
			continue
		}
		var ins []*instance
		for _, in := range ap.instances {
			if in.state == stateReady && ap.serving(in) {
				ins = append(ins, in)
			}
		}
		slot := float64(ap.cfg.Spec.Resources().NanoCPUs) / 1e9
		window := ap.scale.StableWindow
		ap.mu.Unlock()

		var sum float64
		n := 0
		for _, in := range ins {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			used, err := reader.CPUTime(cctx, in.containerID)
			cancel()
			if err != nil {
				continue
			}
			ap.mu.Lock()
			if !in.cpuAt.IsZero() && slot > 0 && used >= in.cpuTime {
				sum += (used - in.cpuTime).Seconds() / now.Sub(in.cpuAt).Seconds() / slot
				n++
			}
			in.cpuTime, in.cpuAt = used, now
			ap.mu.Unlock()
		}
		if n > 0 {
			ap.mu.Lock()
			ap.cpu.Record(now, sum/float64(n), window)
			ap.mu.Unlock()
		}
	}
}
