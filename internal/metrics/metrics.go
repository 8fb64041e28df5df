// Package metrics holds Berth's Prometheus metrics: counters and histograms
// that the gateway and the activator update as things happen, and gauges of
// the instance registry read at scrape time. The server exposes them at
// /metrics on the API listener.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AppState is one app's registry state at scrape time.
type AppState struct {
	Namespace, Name string
	InFlight        int
	Queued          int
	Desired         int
	// Instances counts instances by state ("ready", "sleeping", …).
	Instances map[string]int
}

// Set is every Berth metric, on its own registry.
type Set struct {
	reg *prometheus.Registry

	Requests        *prometheus.CounterVec
	RequestDuration *prometheus.HistogramVec
	ColdStarts      *prometheus.CounterVec
	ColdStartPhase  *prometheus.HistogramVec
	ScaleDecisions  *prometheus.CounterVec
}

// New makes a Set whose state gauges come from state, called at each scrape.
func New(state func() []AppState) *Set {
	s := &Set{
		reg: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_requests_total", Help: "Requests through the gateway, by app and status code.",
		}, []string{"namespace", "app", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "berth_request_duration_seconds", Help: "Gateway request duration, cold starts included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"namespace", "app"}),
		ColdStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_cold_starts_total", Help: "Instances brought up, by kind: create (new container), start (from stopped), unpause (from paused), adopt (after a restart).",
		}, []string{"namespace", "app", "kind"}),
		ColdStartPhase: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "berth_cold_start_phase_seconds", Help: "Duration of each cold-start phase (create, start, ready, unpause, adopt).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"phase"}),
		ScaleDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_scale_decisions_total", Help: "Changes of an app's desired instance count, by direction and deciding signal.",
		}, []string{"namespace", "app", "direction", "reason"}),
	}
	s.reg.MustRegister(s.Requests, s.RequestDuration, s.ColdStarts, s.ColdStartPhase, s.ScaleDecisions,
		&stateCollector{state: state},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s
}

// Handler serves the metrics in the Prometheus text format.
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Timeout: 10 * time.Second})
}

var (
	inflightDesc  = prometheus.NewDesc("berth_in_flight_requests", "Requests being served.", []string{"namespace", "app"}, nil)
	queuedDesc    = prometheus.NewDesc("berth_queued_requests", "Requests waiting for capacity.", []string{"namespace", "app"}, nil)
	desiredDesc   = prometheus.NewDesc("berth_desired_instances", "The autoscaler's desired instance count, warm pool included.", []string{"namespace", "app"}, nil)
	instancesDesc = prometheus.NewDesc("berth_instances", "Instances by state.", []string{"namespace", "app", "state"}, nil)
)

type stateCollector struct{ state func() []AppState }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- inflightDesc
	ch <- queuedDesc
	ch <- desiredDesc
	ch <- instancesDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.state() {
		ch <- prometheus.MustNewConstMetric(inflightDesc, prometheus.GaugeValue, float64(a.InFlight), a.Namespace, a.Name)
		ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(a.Queued), a.Namespace, a.Name)
		ch <- prometheus.MustNewConstMetric(desiredDesc, prometheus.GaugeValue, float64(a.Desired), a.Namespace, a.Name)
		for st, n := range a.Instances {
			ch <- prometheus.MustNewConstMetric(instancesDesc, prometheus.GaugeValue, float64(n), a.Namespace, a.Name, st)
		}
	}
}
