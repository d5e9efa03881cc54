package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pgpooler/pgpooler/pooler"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/metrics"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// startMetricsPooler is startPoolerFor with the metrics registry, whose Histograms must be the
// pooler's Observer before it serves, and the metrics endpoint on a free port. It returns the pooler
// and the endpoint's base URL.
func startMetricsPooler(t testing.TB, backend *pgtest.Server, edit func(*config.Config)) (*testPooler, string) {
	t.Helper()
	var reg *prometheus.Registry
	tp := startPoolerWith(t, backend, edit, func(srv *pooler.Server) { reg = metrics.NewRegistry(srv) })
	ms, err := metrics.Start("127.0.0.1:0", metrics.Handler(reg, tp.srv.Ready), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // runs before the pooler's cleanup: the endpoint stops first
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ms.Shutdown(ctx); err != nil {
			t.Errorf("metrics shutdown: %v", err)
		}
	})
	return tp, "http://" + ms.Addr().String()
}

// httpGet returns the status and body of GET url.
func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape fetches base/metrics and parses it as the Prometheus text format.
func scrape(t testing.TB, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse as Prometheus text: %v\n%s", err, body)
	}
	return mfs
}

// sample returns the value of the metric name with the given labels (a counter's or gauge's value, a
// histogram's sample count, or with suffix "_sum" its sum), 0 when the series does not exist yet.
func sample(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	family, sum := name, false
	if f, ok := strings.CutSuffix(name, "_sum"); ok && mfs[f] != nil && mfs[f].GetType() == dto.MetricType_HISTOGRAM {
		family, sum = f, true
	}
	mf := mfs[family]
	if mf == nil {
		return 0
	}
metrics:
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
				continue metrics
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil && sum:
			return m.GetHistogram().GetSampleSum()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// TestMetricsEndpoint runs transactions through a pooler with the metrics endpoint and checks that the
// SHOW STATS counters and the histograms moved by at least as much, that the pool gauges show the
// client and its idle server, and that /healthz and /readyz answer 200 while PostgreSQL is up.
func TestMetricsEndpoint(t *testing.T) {
	const n = 20
	tp, base := startMetricsPooler(t, pg, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
	})
	db := map[string]string{"database": appDB}
	pool := map[string]string{"database": appDB, "user": appUser}
	before := scrape(t, base)

	conn := tp.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatalf("transaction %d: begin: %v", i, err)
		}
		var got int
		if err := tx.QueryRow(ctx, "SELECT $1::int + 1", i).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("transaction %d: select: %d, %v", i, got, err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("transaction %d: commit: %v", i, err)
		}
	}

	after := scrape(t, base)
	rose := func(name string, labels map[string]string, atLeast float64) {
		t.Helper()
		b, a := sample(before, name, labels), sample(after, name, labels)
		if a-b < atLeast {
			t.Errorf("%s%v: %v -> %v, want a rise of at least %v", name, labels, b, a, atLeast)
		}
	}
	rose("pgpooler_stats_transactions_total", db, n)
	rose("pgpooler_stats_queries_total", db, 3*n) // BEGIN, SELECT, COMMIT
	rose("pgpooler_stats_server_assignments_total", db, n)
	rose("pgpooler_stats_received_bytes_total", db, 1)
	rose("pgpooler_stats_sent_bytes_total", db, 1)
	rose("pgpooler_stats_transaction_time_seconds_total", db, 1e-6)
	rose("pgpooler_stats_binds_total", db, n)
	rose("pgpooler_stats_logins_total", db, 1)
	rose("pgpooler_transaction_duration_seconds", pool, n)
	rose("pgpooler_query_duration_seconds", pool, 3*n)
	rose("pgpooler_client_wait_seconds", pool, n)
	rose("pgpooler_server_connect_duration_seconds", pool, 1)

	// A histogram's sum and the SHOW STATS counter time the same transactions; the counter is in whole
	// microseconds.
	hsum := sample(after, "pgpooler_transaction_duration_seconds_sum", pool)
	csum := sample(after, "pgpooler_stats_transaction_time_seconds_total", db)
	if count := sample(after, "pgpooler_transaction_duration_seconds", pool); hsum < csum || hsum-csum > count*1e-6+1e-9 {
		t.Errorf("transaction time: histogram sum %v, counter %v over %v transactions", hsum, csum, count)
	}

	if got := sample(after, "pgpooler_pools_client_active_connections", pool); got != 1 {
		t.Errorf("cl_active = %v, want 1 (the connected client)", got)
	}
	if got := sample(after, "pgpooler_pools_server_idle_connections", pool) + sample(after, "pgpooler_pools_server_used_connections", pool); got < 1 {
		t.Errorf("sv_idle + sv_used = %v, want the transaction-mode server back in the pool", got)
	}
	if got := sample(after, "pgpooler_client_connections", nil); got != 1 {
		t.Errorf("pgpooler_client_connections = %v, want 1", got)
	}

	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q, want 200 ok", code, body)
	}
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/readyz with PostgreSQL up: %d %q, want 200 ok", code, body)
	}
}

// TestMetricsReadyzBackendDown: a pooler whose only database points at a closed port is not ready:
// /readyz answers 503 naming the address, while /healthz still answers 200.
func TestMetricsReadyzBackendDown(t *testing.T) {
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	_, base := startMetricsPooler(t, pg, func(c *config.Config) {
		c.Databases = map[string]config.Database{appDB: {Host: "127.0.0.1", Port: port, Password: appPassword}}
	})
	code, body := httpGet(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("/readyz with the backend down: %d %q, want 503 naming 127.0.0.1:%d", code, body, port)
	}
	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %q, want 200", code, body)
	}
}

// TestMetricsReadyzShutdown: once the pooler shuts down, /readyz answers 503 at once, so that load
// balancers stop sending clients while running transactions finish.
func TestMetricsReadyzShutdown(t *testing.T) {
	cfg := baseConfig(pg)
	srv, err := pooler.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeAll([]net.Listener{ln}) }()
	ms, err := metrics.Start("127.0.0.1:0", metrics.Handler(prometheus.NewRegistry(), srv.Ready), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Shutdown(context.Background())
	base := "http://" + ms.Addr().String()
	eventually(t, 5*time.Second, "/readyz 200 once serving", func() bool {
		code, _ := httpGet(t, base+"/readyz")
		return code == http.StatusOK
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz after Shutdown: %d %q, want 503 shutting down", code, body)
	}
}

// TestMetricsBinary: the binary with metrics_addr serves /metrics, /healthz and /readyz (and with
// debug_pprof /debug/pprof/), and closes the endpoint when it stops.
func TestMetricsBinary(t *testing.T) {
	bin := buildBinary(t)
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	mport, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	cfg := fmt.Sprintf(`[pooler]
listen_addr = "127.0.0.1"
listen_port = %d
pool_mode = "transaction"
metrics_addr = "127.0.0.1:%d"
debug_pprof = true
[databases."*"]
host = %q
port = %d
password = %q
`, port, mport, pg.Host, pg.Port, appPassword)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, path)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()

	base := fmt.Sprintf("http://127.0.0.1:%d", mport)
	client := &http.Client{Timeout: 2 * time.Second}
	eventually(t, 10*time.Second, "metrics endpoint up", func() bool {
		resp, err := client.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	tp := &testPooler{port: port, logs: &syncBuffer{}}
	conn := tp.connect(t)
	if _, err := conn.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	mfs := scrape(t, base)
	if got := sample(mfs, "pgpooler_stats_queries_total", map[string]string{"database": appDB}); got < 1 {
		t.Errorf("binary: pgpooler_stats_queries_total{database=%q} = %v, want >= 1", appDB, got)
	}
	if got := sample(mfs, "pgpooler_query_duration_seconds", map[string]string{"database": appDB}); got < 1 {
		t.Errorf("binary: pgpooler_query_duration_seconds count = %v, want >= 1 (the observer is set)", got)
	}
	if mfs["go_goroutines"] == nil || mfs["process_start_time_seconds"] == nil {
		t.Errorf("binary: standard go_ and process_ metrics missing")
	}
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("binary: /readyz %d %q, want 200", code, body)
	}
	if code, body := httpGet(t, base+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.HasPrefix(body, "goroutine profile: total ") {
		t.Errorf("binary: /debug/pprof/goroutine?debug=1 %d %.100q, want 200 and a goroutine profile (debug_pprof)", code, body)
	}

	// SIGTERM (PgBouncer 1.23+): stop listening, serve the connected clients until they leave, then exit.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "listener closed after SIGTERM", func() bool {
		c, err := net.DialTimeout("tcp", tp.addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if _, err := conn.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatalf("a connected client was not served after SIGTERM: %v\n%s", err, logs.String())
	}
	conn.Close(context.Background())
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit within 15s of SIGTERM\n%s", logs.String())
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Errorf("metrics endpoint still answers after the binary stopped")
	}
}
