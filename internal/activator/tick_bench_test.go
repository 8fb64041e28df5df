package activator

import (
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/manifest"
	"github.com/berth-dev/berth/internal/runtime/fake"
)

// BenchmarkTick10kApps is one control-loop tick over 10,000 apps and 100,000
// instances (docs/benchmarks.md, "Control plane at 10,000 apps"): every
// tenth app is busy, with 10 ready instances (scale.min 10) serving requests;
// the others are idle, with 10 paused instances each. Time moves 250 ms per
// tick, as in the server's loop, so windows roll. Target: ≤ 50 ms per tick.
func BenchmarkTick10kApps(b *testing.B) {
	const apps, perApp = 10_000, 10
	busy, err := manifest.Parse("berth.yaml", []byte("name: x\nimage: img\nscale: {min: 10, max: 20, concurrency: 10}\nlimits: {max_duration: 30m}\n"))
	if err != nil {
		b.Fatal(err)
	}
	idle, err := manifest.Parse("berth.yaml", []byte("name: x\nimage: img\nsleep: pause\n"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	act := New(Options{Driver: fake.New(), Owner: "bench", Now: func() time.Time { return now }})
	defer act.Close()
	for i := range apps {
		m := *idle
		if i%10 == 0 {
			m = *busy
		}
		m.Name = fmt.Sprintf("app-%05d", i)
		act.SetApp(App{Namespace: "default", Name: m.Name, Revision: 1, Image: "sha256:img", Spec: m})
		ap, _ := act.lookup("default", m.Name)
		for j := range perApp {
			in := &instance{id: fmt.Sprintf("%05d-%d", i, j), containerID: fmt.Sprintf("c%05d-%d", i, j), revision: 1,
				createdAt: now, startedAt: now, lastActive: now, readyAt: now}
			if i%10 == 0 {
				in.state, in.addr, in.inflight = stateReady, fmt.Sprintf("10.0.%d.%d:8080", i/250, i%250), 3
			} else {
				in.state, in.sleepMode = stateSleeping, manifest.SleepPause
			}
			ap.instances = append(ap.instances, in)
		}
	}
	act.Tick(now) // the first tick sizes the windows
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(250 * time.Millisecond)
		act.Tick(now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/tick")
}
