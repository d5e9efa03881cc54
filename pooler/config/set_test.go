package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWith(t *testing.T) {
	base := Default()
	for _, tt := range []struct {
		key, value string
		check      func(*Config) bool
		err        string
	}{
		{"default_pool_size", "7", func(c *Config) bool { return c.Pooler.DefaultPoolSize == 7 }, ""},
		{"DEFAULT_POOL_SIZE", " 8 ", func(c *Config) bool { return c.Pooler.DefaultPoolSize == 8 }, ""},
		{"query_timeout", "'2s'", func(c *Config) bool { return c.Pooler.QueryTimeout.D() == 2*time.Second }, ""},
		{"query_timeout", "3", func(c *Config) bool { return c.Pooler.QueryTimeout.D() == 3*time.Second }, ""},
		{"pool_mode", "transaction", func(c *Config) bool { return c.Pooler.PoolMode == PoolModeTransaction }, ""},
		{"server_reset_query", "'SELECT ''x'''", func(c *Config) bool { return c.Pooler.ServerResetQuery == "SELECT 'x'" }, ""},
		{"log_connections", "false", func(c *Config) bool { return !c.Pooler.LogConnections }, ""},
		{"pool_mode", "sessoin", nil, "pool_mode"},
		{"default_pool_size", "'many'", nil, "default_pool_size"},
		{"no_such_key", "1", nil, "unknown setting"},
		{"listen_port", "7000", nil, "cannot be changed"},
	} {
		got, err := base.With(tt.key, tt.value)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("With(%q, %q) error = %v, want one mentioning %q", tt.key, tt.value, err, tt.err)
			}
			continue
		}
		if err != nil || !tt.check(got) {
			t.Errorf("With(%q, %q) = %+v, %v", tt.key, tt.value, got, err)
		}
	}
	if base.Pooler.DefaultPoolSize != 20 {
		t.Fatal("With changed its receiver")
	}
	if _, err := base.With("listen_addr", "'*'"); !errors.Is(err, ErrNotChangeable) {
		t.Fatalf("listen_addr: %v, want ErrNotChangeable", err)
	}
}
