package metrics

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pgpooler/pgpooler/pooler"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// closedPort returns a TCP port on 127.0.0.1 that nothing listens on.
func closedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// testPooler is a pooler whose only database, "db", is on backendPort, with the metrics registry.
type testPooler struct {
	srv  *pooler.Server
	reg  *prometheus.Registry
	addr string // the pooler's address; "" when not serving
}

// newPooler builds a pooler with NewRegistry and, when serve is set, serves it on 127.0.0.1:0.
func newPooler(t testing.TB, backendPort int, serve bool) *testPooler {
	t.Helper()
	cfg := config.Default()
	cfg.Databases["db"] = config.Database{Host: "127.0.0.1", Port: backendPort}
	cfg.Pooler.ServerConnectTimeout = config.Duration(2 * time.Second)
	cfg.Pooler.ServerLoginRetry = 0
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := pooler.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	tp := &testPooler{srv: srv, reg: NewRegistry(srv)}
	if !serve {
		return tp
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeAll([]net.Listener{ln}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return tp
}

// login tries to log in as user to database db through the pooler; the backend being closed, it
// fails, but the pool exists afterwards.
func (tp *testPooler) login(t testing.TB, user string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(tp.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, "host="+host+" port="+port+" user="+user+" dbname=db sslmode=disable")
	if err == nil {
		conn.Close(ctx)
		t.Fatalf("login through a pooler whose backend is closed succeeded")
	}
}

// gather returns the registry's families by name.
func gather(t testing.TB, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	m := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		m[mf.GetName()] = mf
	}
	return m
}

// metricFor returns the metric of mf whose labels include want, nil if none.
func metricFor(mf *dto.MetricFamily, want map[string]string) *dto.Metric {
	if mf == nil {
		return nil
	}
	for _, m := range mf.GetMetric() {
		n := 0
		for _, lp := range m.GetLabel() {
			if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
				n++
			}
		}
		if n == len(want) {
			return m
		}
	}
	return nil
}

// value returns a gauge's or counter's value.
func value(m *dto.Metric) float64 {
	if m.GetGauge() != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

// histogramNames are the four histograms' names.
var histogramNames = []string{
	"pgpooler_client_wait_seconds", "pgpooler_transaction_duration_seconds",
	"pgpooler_query_duration_seconds", "pgpooler_server_connect_duration_seconds",
}

// TestCollectorWithoutPools: a pooler with no pools yet reports the process-wide metrics only.
func TestCollectorWithoutPools(t *testing.T) {
	tp := newPooler(t, closedPort(t), false)
	mfs := gather(t, tp.reg)
	for name, want := range map[string]float64{
		"pgpooler_up": 1, "pgpooler_client_connections": 0, "pgpooler_server_connections": 0,
		"pgpooler_pools": 0, "pgpooler_config_max_client_connections": 100,
	} {
		mf := mfs[name]
		if mf == nil || mf.GetType() != dto.MetricType_GAUGE || len(mf.GetMetric()) != 1 {
			t.Errorf("%s: %v, want one gauge", name, mf)
			continue
		}
		if got := value(mf.GetMetric()[0]); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	start := value(mfs["pgpooler_start_time_seconds"].GetMetric()[0])
	if now := float64(time.Now().Unix()); start > now+1 || start < now-60 {
		t.Errorf("pgpooler_start_time_seconds = %v, now is %v", start, now)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total"} {
		if mfs[name] == nil {
			t.Errorf("standard metric %s missing", name)
		}
	}
	for name := range mfs {
		if strings.HasPrefix(name, "pgpooler_pools_") || strings.HasPrefix(name, "pgpooler_stats_") {
			t.Errorf("%s reported without any pool", name)
		}
	}
}

// TestCollectorPools: once a client has logged in, the pool's SHOW POOLS gauges, its database's SHOW
// STATS counters and its histograms are all reported, with their labels and types.
func TestCollectorPools(t *testing.T) {
	tp := newPooler(t, closedPort(t), true)
	tp.login(t, "alice")
	tp.login(t, "bob")
	mfs := gather(t, tp.reg)

	for _, g := range poolGauges {
		name := descName(g.desc)
		for _, user := range []string{"alice", "bob"} {
			m := metricFor(mfs[name], map[string]string{"database": "db", "user": user})
			if m == nil || mfs[name].GetType() != dto.MetricType_GAUGE {
				t.Errorf("%s{database=db,user=%s} missing or not a gauge: %v", name, user, mfs[name])
			}
		}
	}
	if m := metricFor(mfs["pgpooler_pools_pool_size"], map[string]string{"user": "alice"}); m == nil || value(m) != 20 {
		t.Errorf("pgpooler_pools_pool_size{user=alice} = %v, want 20", m)
	}
	if m := metricFor(mfs["pgpooler_pools_info"], map[string]string{"database": "db", "user": "alice", "pool_mode": "session"}); m == nil || value(m) != 1 {
		t.Errorf("pgpooler_pools_info{pool_mode=session} = %v, want 1", m)
	}
	if got := value(mfs["pgpooler_pools"].GetMetric()[0]); got != 2 {
		t.Errorf("pgpooler_pools = %v, want 2", got)
	}
	for _, s := range statCounters {
		name := descName(s.desc)
		mf := mfs[name]
		if mf == nil || mf.GetType() != dto.MetricType_COUNTER || len(mf.GetMetric()) != 1 {
			t.Errorf("%s: %v, want one counter (database db, the sum of both pools)", name, mf)
			continue
		}
		if lps := mf.GetMetric()[0].GetLabel(); len(lps) != 1 || lps[0].GetName() != "database" || lps[0].GetValue() != "db" {
			t.Errorf("%s labels %v, want database=db only", name, lps)
		}
	}
	for _, name := range histogramNames {
		mf := mfs[name]
		if mf == nil || mf.GetType() != dto.MetricType_HISTOGRAM || len(mf.GetMetric()) != 2 {
			t.Errorf("%s: %v, want a histogram per pool", name, mf)
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if len(h.GetBucket()) != len(Buckets) {
			t.Errorf("%s has %d buckets, want %d", name, len(h.GetBucket()), len(Buckets))
		}
	}
	// Both logins tried to connect to the closed backend: the failed attempts are observed.
	for _, user := range []string{"alice", "bob"} {
		m := metricFor(mfs["pgpooler_server_connect_duration_seconds"], map[string]string{"user": user})
		if m == nil || m.GetHistogram().GetSampleCount() < 1 {
			t.Errorf("server_connect_duration_seconds{user=%s} = %v, want at least one observation", user, m)
		}
	}
}

// descName returns the fully-qualified name of d.
func descName(d *prometheus.Desc) string {
	s := d.String() // Desc{fqName: "name", help: ...
	s = s[strings.Index(s, `"`)+1:]
	return s[:strings.Index(s, `"`)]
}

// TestHistograms: each pool's observer feeds its own labelled series, in seconds.
func TestHistograms(t *testing.T) {
	h := NewHistograms()
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)
	a := h.Pool("db1", "u")
	a.Wait(3 * time.Millisecond)
	a.Xact(2 * time.Second)
	a.Query(150 * time.Microsecond)
	a.Query(90 * time.Second) // beyond the last bound: +Inf only
	a.Connect(40 * time.Millisecond)
	h.Pool("db2", "u").Wait(time.Millisecond)
	h.Pool("db1", "u").Wait(time.Millisecond) // a pool created again shares the series

	mfs := gather(t, reg)
	check := func(name, db string, count uint64, sum float64, le float64, below uint64) {
		t.Helper()
		m := metricFor(mfs[name], map[string]string{"database": db, "user": "u"})
		if m == nil {
			t.Fatalf("%s{database=%s} missing", name, db)
		}
		hg := m.GetHistogram()
		if hg.GetSampleCount() != count || abs(hg.GetSampleSum()-sum) > 1e-9 {
			t.Errorf("%s{database=%s}: count %d sum %v, want %d %v", name, db, hg.GetSampleCount(), hg.GetSampleSum(), count, sum)
		}
		for _, b := range hg.GetBucket() {
			if b.GetUpperBound() == le && b.GetCumulativeCount() != below {
				t.Errorf("%s{database=%s} bucket le=%v: %d, want %d", name, db, le, b.GetCumulativeCount(), below)
			}
		}
	}
	check("pgpooler_client_wait_seconds", "db1", 2, 0.004, 0.0025, 1)
	check("pgpooler_client_wait_seconds", "db2", 1, 0.001, 0.001, 1)
	check("pgpooler_transaction_duration_seconds", "db1", 1, 2, 1, 0)
	check("pgpooler_query_duration_seconds", "db1", 2, 90.00015, 60, 1)
	check("pgpooler_server_connect_duration_seconds", "db1", 1, 0.04, 0.05, 1)
	if n := len(mfs["pgpooler_client_wait_seconds"].GetMetric()); n != 2 {
		t.Errorf("client_wait_seconds has %d series, want 2", n)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// get fetches url and returns the status, the Content-Type and the body.
func get(t testing.TB, url string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// TestHandler: /metrics is valid Prometheus text holding the pooler's families; /healthz is 200;
// /readyz is 503 with the reason while the only backend is closed, 200 once something listens there.
func TestHandler(t *testing.T) {
	port := closedPort(t)
	tp := newPooler(t, port, true)
	tp.login(t, "alice")
	hs := httptest.NewServer(Handler(tp.reg, tp.srv.Ready))
	defer hs.Close()

	code, ctype, body := get(t, hs.URL+"/metrics")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("/metrics: %d %q", code, ctype)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v\n%s", err, body)
	}
	for _, name := range append([]string{
		"pgpooler_up", "pgpooler_pools_client_active_connections", "pgpooler_stats_transactions_total",
		"go_goroutines",
	}, histogramNames...) {
		if mfs[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if mf := mfs["pgpooler_stats_received_bytes_total"]; mf == nil || mf.GetType() != dto.MetricType_COUNTER {
		t.Errorf("/metrics pgpooler_stats_received_bytes_total: %v, want a counter", mf)
	}

	if code, _, body := get(t, hs.URL+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 ok", code, body)
	}
	code, _, body = get(t, hs.URL+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready") || !strings.Contains(body, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))) {
		t.Errorf("/readyz with the backend closed: %d %q, want 503 naming the address", code, body)
	}
	if code, _, _ := get(t, hs.URL+"/nope"); code != http.StatusNotFound {
		t.Errorf("/nope: %d, want 404", code)
	}
	resp, err := http.Post(hs.URL+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d, want 405", resp.StatusCode)
	}

	// Something answers on the backend's port now: ready.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Skipf("cannot listen on the backend port again: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if code, _, body := get(t, hs.URL+"/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz with the backend listening: %d %q, want 200 ok", code, body)
	}
}

// TestReadyNotServing: a pooler that does not serve yet, or no longer, is not ready, whatever its
// backends.
func TestReadyNotServing(t *testing.T) {
	tp := newPooler(t, closedPort(t), false)
	if err := tp.srv.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "not listening") {
		t.Errorf("Ready before serving = %v, want not listening", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = tp.srv.Shutdown(ctx)
	if err := tp.srv.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("Ready after Shutdown = %v, want shutting down", err)
	}
}

// TestHandlerWithoutReady: a nil ready function makes /readyz answer as /healthz.
func TestHandlerWithoutReady(t *testing.T) {
	hs := httptest.NewServer(Handler(prometheus.NewRegistry(), nil))
	defer hs.Close()
	if code, _, body := get(t, hs.URL+"/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz: %d %q, want 200 ok", code, body)
	}
}

// TestServerStartShutdown: Start serves on the address given, Shutdown stops it, and a busy address is
// an error naming metrics_addr.
func TestServerStartShutdown(t *testing.T) {
	ms, err := Start("127.0.0.1:0", Handler(prometheus.NewRegistry(), nil), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ms.Addr().String()
	if code, _, _ := get(t, url+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d", code)
	}
	if _, err := Start(ms.Addr().String(), http.NotFoundHandler(), nil); err == nil || !strings.Contains(err.Error(), "metrics_addr") {
		t.Errorf("Start on a busy address = %v, want an error naming metrics_addr", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ms.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Errorf("GET after Shutdown succeeded")
	}
}
