package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgpooler/pgpooler/pooler"
)

// Buckets are the upper bounds, in seconds, of every histogram of Histograms: 100µs to 60s, roughly
// 1-2.5-5 per decade, so that a query of a few hundred microseconds and a client waiting out
// query_wait_timeout both land in a bucket that says something.
var Buckets = []float64{
	0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05,
	0.1, 0.25, 0.5,
	1, 2.5, 5,
	10, 30, 60,
}

// Histograms is a pooler.Observer that keeps the timings the counters of SHOW STATS can only average
// as Prometheus histograms, labelled database and user (the pool). Set it on a pooler.Server with
// SetObserver before serving and register it on a prometheus.Registerer; NewRegistry does both.
type Histograms struct {
	wait, xact, query, connect *prometheus.HistogramVec
}

// NewHistograms returns Histograms with no pools yet.
func NewHistograms() *Histograms {
	vec := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: name, Help: help, Buckets: Buckets,
		}, poolLabels)
	}
	return &Histograms{
		wait: vec("client_wait_seconds",
			"How long clients waited for a server connection, one observation per server assignment (SHOW STATS total_wait_time is its sum)."),
		xact: vec("transaction_duration_seconds",
			"How long transactions took, first query to ReadyForQuery 'I' (SHOW STATS total_xact_time is its sum)."),
		query: vec("query_duration_seconds",
			"How long queries took, first message to ReadyForQuery (SHOW STATS total_query_time is its sum)."),
		connect: vec("server_connect_duration_seconds",
			"How long opening and logging in to a server connection took, failed attempts included."),
	}
}

// Describe sends the descriptors of the four histograms.
func (h *Histograms) Describe(ch chan<- *prometheus.Desc) {
	h.wait.Describe(ch)
	h.xact.Describe(ch)
	h.query.Describe(ch)
	h.connect.Describe(ch)
}

// Collect sends the four histograms of every pool seen so far.
func (h *Histograms) Collect(ch chan<- prometheus.Metric) {
	h.wait.Collect(ch)
	h.xact.Collect(ch)
	h.query.Collect(ch)
	h.connect.Collect(ch)
}

// Pool returns the observer of one pool: its four histograms with the labels already applied, so that
// an observation costs no label lookup. The pooler calls it once per pool, when it creates the pool.
func (h *Histograms) Pool(database, user string) pooler.PoolObserver {
	return &poolObserver{
		wait:    h.wait.WithLabelValues(database, user),
		xact:    h.xact.WithLabelValues(database, user),
		query:   h.query.WithLabelValues(database, user),
		connect: h.connect.WithLabelValues(database, user),
	}
}

// poolObserver is one pool's pooler.PoolObserver.
type poolObserver struct {
	wait, xact, query, connect prometheus.Observer
}

func (o *poolObserver) Wait(d time.Duration)    { o.wait.Observe(d.Seconds()) }
func (o *poolObserver) Xact(d time.Duration)    { o.xact.Observe(d.Seconds()) }
func (o *poolObserver) Query(d time.Duration)   { o.query.Observe(d.Seconds()) }
func (o *poolObserver) Connect(d time.Duration) { o.connect.Observe(d.Seconds()) }

var (
	_ pooler.Observer      = (*Histograms)(nil)
	_ prometheus.Collector = (*Histograms)(nil)
	_ prometheus.Collector = (*Collector)(nil)
)
