package pooler

import (
	"strings"
	"testing"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// TestKeepFixedMetrics: a reload keeps the running metrics_addr and debug_pprof (cmd/pgpooler starts the
// metrics endpoint once) and says so; other changes go through.
func TestKeepFixedMetrics(t *testing.T) {
	running := config.Default()
	running.Pooler.MetricsAddr = "127.0.0.1:9127"
	next := config.Default()
	next.Pooler.MetricsAddr, next.Pooler.DebugPprof, next.Pooler.DefaultPoolSize = "127.0.0.1:9128", true, 7
	got, notes := keepFixed(running, next)
	if got.Pooler.MetricsAddr != "127.0.0.1:9127" || got.Pooler.DebugPprof || got.Pooler.DefaultPoolSize != 7 {
		t.Errorf("kept metrics_addr %q, debug_pprof %v, default_pool_size %d", got.Pooler.MetricsAddr, got.Pooler.DebugPprof, got.Pooler.DefaultPoolSize)
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "metrics_addr") || !strings.Contains(notes[1], "debug_pprof") {
		t.Errorf("notes %q", notes)
	}
}
