package metrics

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestPprof: with WithPprof (debug_pprof on) the endpoint serves /debug/pprof/, a goroutine profile that
// lists goroutines, and a CPU profile; without it those paths are 404. /metrics answers either way.
func TestPprof(t *testing.T) {
	get := func(url string) (int, []byte) {
		t.Helper()
		client := &http.Client{Timeout: 20 * time.Second}
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		return resp.StatusCode, body
	}
	start := func(opts ...Option) string {
		t.Helper()
		s, err := Start("127.0.0.1:0", Handler(prometheus.NewRegistry(), nil, opts...), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
		return fmt.Sprintf("http://%s", s.Addr())
	}

	on := start(WithPprof())
	if code, body := get(on + "/debug/pprof/"); code != http.StatusOK || !bytes.Contains(body, []byte("goroutine")) {
		t.Errorf("on: /debug/pprof/ %d %.200q, want 200 and the profile index", code, body)
	}
	code, body := get(on + "/debug/pprof/goroutine?debug=1")
	m := regexp.MustCompile(`^goroutine profile: total (\d+)\n`).FindSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("on: /debug/pprof/goroutine?debug=1 %d %.200q, want 200 and a goroutine profile", code, body)
	}
	if n, _ := strconv.Atoi(string(m[1])); n < 1 {
		t.Errorf("on: goroutine profile total %d, want at least 1", n)
	}
	if code, body := get(on + "/debug/pprof/profile?seconds=1"); code != http.StatusOK || len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Errorf("on: /debug/pprof/profile?seconds=1 %d, %d bytes, want 200 and a gzipped profile", code, len(body))
	}
	if code, _ := get(on + "/metrics"); code != http.StatusOK {
		t.Errorf("on: /metrics %d", code)
	}

	off := start()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/profile?seconds=1"} {
		if code, _ := get(off + path); code != http.StatusNotFound {
			t.Errorf("off: %s %d, want 404", path, code)
		}
	}
	if code, _ := get(off + "/metrics"); code != http.StatusOK {
		t.Errorf("off: /metrics %d", code)
	}
}
