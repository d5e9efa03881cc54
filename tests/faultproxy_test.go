package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// faultProxy is a TCP proxy on 127.0.0.1 in front of a PostgreSQL, run in this process by Shopify's
// toxiproxy used as a library, into which faults ("toxics") are injected for real: latency, stalls,
// resets, slow closes, bandwidth limits, connections cut after some bytes. A pooler whose database
// entry points at host/port reaches PostgreSQL only through it.
type faultProxy struct {
	proxy *toxiproxy.Proxy
	host  string
	port  int
}

var faultProxies atomic.Int64

// startFaultProxy starts a proxy to upstream (host:port) on a free loopback port, stopped (with every
// connection through it closed) when the test ends.
func startFaultProxy(t testing.TB, upstream string) *faultProxy {
	t.Helper()
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	name := "pg" + strconv.FormatInt(faultProxies.Add(1), 10)
	p := toxiproxy.NewProxy(api, name, "127.0.0.1:0", upstream)
	if err := api.Collection.Add(p, true); err != nil {
		t.Fatalf("toxiproxy: start proxy: %v", err)
	}
	t.Cleanup(p.Stop)
	host, port, err := net.SplitHostPort(p.Listen) // the bound address, once started
	if err != nil {
		t.Fatalf("toxiproxy listen address %q: %v", p.Listen, err)
	}
	n, _ := strconv.Atoi(port)
	return &faultProxy{proxy: p, host: host, port: n}
}

// toxic is one fault: a toxiproxy toxic type (latency, bandwidth, slow_close, timeout, reset_peer,
// limit_data, slicer), its direction ("downstream": from PostgreSQL to the pooler; "upstream": from the
// pooler to PostgreSQL), the fraction of connections it affects (toxicity, 0 means 1) and its attributes
// (toxiproxy's README: latency and jitter in ms, rate in KB/s, delay and timeout in ms, bytes).
type toxic struct {
	Type       string
	Stream     string
	Toxicity   float64
	Attributes map[string]any
}

// String describes the toxic for log lines, e.g. "latency downstream latency=50 jitter=20".
func (x toxic) String() string {
	var b strings.Builder
	b.WriteString(x.Type + " " + x.Stream)
	for _, k := range slices.Sorted(maps.Keys(x.Attributes)) {
		fmt.Fprintf(&b, " %s=%v", k, x.Attributes[k])
	}
	if x.Toxicity > 0 && x.Toxicity < 1 {
		fmt.Fprintf(&b, " toxicity=%g", x.Toxicity)
	}
	return b.String()
}

// add injects x into the proxy under name: into the connections already open and every new one.
func (fp *faultProxy) add(t testing.TB, name string, x toxic) {
	t.Helper()
	tox := x.Toxicity
	if tox == 0 {
		tox = 1
	}
	body, err := json.Marshal(map[string]any{
		"name": name, "type": x.Type, "stream": x.Stream, "toxicity": tox, "attributes": x.Attributes,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fp.proxy.Toxics.AddToxicJson(strings.NewReader(string(body))); err != nil {
		t.Fatalf("toxiproxy: add toxic %s (%s): %v", name, x, err)
	}
}

// remove takes the toxic name out again; data flows normally from then on.
func (fp *faultProxy) remove(t testing.TB, name string) {
	t.Helper()
	if err := fp.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
		t.Fatalf("toxiproxy: remove toxic %s: %v", name, err)
	}
}
