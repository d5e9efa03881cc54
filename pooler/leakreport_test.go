package pooler

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/session"
)

// TestSessionFeatureCounts: a feature is counted per pool and per client, the client's first use of it
// logged once (with its application_name, without the query text), and a client's counts are dropped
// when it ends; a text without a feature's word costs no allocation, and a client that used none has
// no entry.
func TestSessionFeatureCounts(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{logger: slog.New(slog.NewTextHandler(&logs, nil))}
	s.cfg.Store(config.Default())
	p := &pool{}
	c := &clientConn{s: s, mode: modeTransaction, pool: p, database: "app", user: "alice", remote: "10.0.0.1:5555",
		params: map[string]string{"application_name": "job"}}
	idle := &clientConn{s: s, mode: modeTransaction, pool: p}

	plain := []byte("SELECT payload FROM jobs WHERE id = $1")
	if n := testing.AllocsPerRun(100, func() { idle.sessionFeature(plain) }); n != 0 {
		t.Errorf("sessionFeature of a text without a feature allocates %v times", n)
	}
	for range 2 {
		if f := c.sessionFeature([]byte("LISTEN secret_channel")); f != session.FeatureNone {
			t.Errorf("sessionFeature = %v without reject_session_features, want none (passed)", f)
		}
	}
	if got := p.features.seen[session.FeatureListen].Load(); got != 2 {
		t.Errorf("pool: listen seen %d times, want 2", got)
	}
	if got := p.features.clients[session.FeatureListen].Load(); got != 1 {
		t.Errorf("pool: listen used by %d clients, want 1", got)
	}
	c.mu.Lock()
	desc := s.leaks.describeLocked(c)
	c.mu.Unlock()
	if desc != "listen=2" {
		t.Errorf("client's features %q, want listen=2", desc)
	}
	if idle.features != 0 || s.leaks.clients[idle] != nil {
		t.Error("a client that used no feature has counts")
	}
	if n := strings.Count(logs.String(), "session feature used"); n != 1 {
		t.Errorf("%d log lines, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "application_name=job") || strings.Contains(logs.String(), "secret_channel") {
		t.Errorf("log line without application_name or with query text:\n%s", logs.String())
	}
	s.leaks.forget(c)
	if len(s.leaks.clients) != 0 {
		t.Error("the counts of an ended client are kept")
	}

	cfg := config.Default()
	cfg.Pooler.RejectSessionFeatures = true
	s.cfg.Store(cfg)
	if f := c.sessionFeature([]byte("SELECT pg_advisory_lock(1)")); f != session.FeatureAdvisoryLock {
		t.Errorf("sessionFeature = %v with reject_session_features, want advisory_lock", f)
	}
	if got := p.features.refused[session.FeatureAdvisoryLock].Load(); got != 1 {
		t.Errorf("advisory_lock refused %d times, want 1", got)
	}
	if got := p.features.load(); len(got) != 2 || got[0].Feature != "listen" || got[1].Feature != "advisory_lock" || got[1].Refused != 1 {
		t.Errorf("pool's counts %+v", got)
	}
}
