package metrics

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// dashboardPath is the Grafana dashboard shipped for these metrics.
var dashboardPath = filepath.Join("..", "..", "docs", "grafana-dashboard.json")

// identifier matches PromQL identifiers: metric names, label names, functions, keywords.
var identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// TestDashboard: docs/grafana-dashboard.json is valid JSON in Grafana's current schema, takes its
// Prometheus data source as the input DS_PROMETHEUS, and every query (panels' and template
// variables') references only metrics that a running pooler actually emits (histograms with their
// _bucket, _sum and _count series).
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		SchemaVersion int    `json:"schemaVersion"`
		Title         string `json:"title"`
		UID           string `json:"uid"`
		Inputs        []struct {
			Name, Type, PluginID string
		} `json:"__inputs"`
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardPath, err)
	}
	if dash.SchemaVersion < 36 || dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
		t.Errorf("dashboard schemaVersion %d title %q uid %q with %d panels; want schemaVersion >= 36, a title, a uid and panels",
			dash.SchemaVersion, dash.Title, dash.UID, len(dash.Panels))
	}
	if len(dash.Inputs) != 1 || dash.Inputs[0].Name != "DS_PROMETHEUS" || dash.Inputs[0].Type != "datasource" || dash.Inputs[0].PluginID != "prometheus" {
		t.Errorf("dashboard __inputs = %+v, want one prometheus datasource input DS_PROMETHEUS", dash.Inputs)
	}

	// The metrics a pooler with pools emits.
	tp := newPooler(t, closedPort(t), true)
	tp.login(t, "alice")
	emitted := map[string]bool{}
	for name, mf := range gather(t, tp.reg) {
		emitted[name] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				emitted[name+suffix] = true
			}
		}
	}

	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		t.Fatal(err)
	}
	exprs, datasources := 0, 0
	used := map[string]bool{}
	walk(generic, func(key string, v any) {
		switch key {
		case "expr", "query": // panel queries; template variable queries
			expr, ok := v.(string)
			if !ok {
				return
			}
			names := metricNames(expr)
			if key == "expr" {
				exprs++
				if len(names) == 0 {
					t.Errorf("expr %q references no pgpooler metric", expr)
				}
			}
			for _, n := range names {
				used[n] = true
				if !emitted[n] {
					t.Errorf("expr %q references %s, which pgpooler does not emit", expr, n)
				}
			}
		case "datasource":
			ds, ok := v.(map[string]any)
			if !ok {
				t.Errorf("datasource %v is not an object", v)
				return
			}
			if ds["type"] == "prometheus" {
				datasources++
				if ds["uid"] != "${DS_PROMETHEUS}" {
					t.Errorf("prometheus datasource uid %v, want ${DS_PROMETHEUS}", ds["uid"])
				}
			}
		}
	})
	if exprs == 0 || datasources == 0 {
		t.Fatalf("dashboard has %d exprs and %d prometheus datasources", exprs, datasources)
	}
	// The panels the dashboard promises.
	for _, n := range []string{
		"pgpooler_stats_transactions_total", "pgpooler_stats_queries_total",
		"pgpooler_client_wait_seconds_bucket", "pgpooler_transaction_duration_seconds_bucket",
		"pgpooler_query_duration_seconds_bucket", "pgpooler_server_connect_duration_seconds_bucket",
		"pgpooler_pools_client_active_connections", "pgpooler_pools_client_waiting_connections",
		"pgpooler_pools_server_active_connections", "pgpooler_pools_server_idle_connections",
		"pgpooler_stats_received_bytes_total", "pgpooler_stats_sent_bytes_total",
	} {
		if !used[n] {
			t.Errorf("dashboard has no query on %s", n)
		}
	}
}

// metricNames returns the pgpooler metric names in a PromQL expression (label values in quotes and
// label names do not start with pgpooler_, so a scan for identifiers is enough).
func metricNames(expr string) []string {
	var names []string
	for _, id := range identifier.FindAllString(expr, -1) {
		if strings.HasPrefix(id, namespace+"_") && !slices.Contains(names, id) {
			names = append(names, id)
		}
	}
	return names
}

// walk calls f with every key and value of every object in v, depth first.
func walk(v any, f func(key string, v any)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			f(k, x)
			walk(x, f)
		}
	case []any:
		for _, x := range v {
			walk(x, f)
		}
	}
}
