package pooler

import (
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func gcPercent() int64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestMemReturnRule: the GC percentage is lowered in a tick with a login burst and put back in the
// first quiet tick; memory is returned only in a quiet tick after at least memReturnMinConns
// connections, and not again within memReturnInterval.
func TestMemReturnRule(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	var m memReturn
	now := time.Unix(1000, 0)
	conns := uint64(0)
	step := func(accepted uint64) bool {
		now = now.Add(janitorInterval)
		conns += accepted
		return m.tick(now, conns)
	}
	if step(5) {
		t.Fatal("returned memory after 5 connections")
	}
	if step(memBurstConns) || gcPercent() != memBurstGCPercent {
		t.Fatalf("in a burst tick: GC percent %d, want %d, and no return", gcPercent(), memBurstGCPercent)
	}
	for range 10 {
		if step(memBurstConns) {
			t.Fatal("returned memory while the burst goes on")
		}
	}
	if !step(memReturnQuietConns-1) || gcPercent() != 100 {
		t.Fatalf("first quiet tick after the burst: GC percent %d, want 100 again, and a return", gcPercent())
	}
	if step(0) {
		t.Fatal("returned memory twice for one burst")
	}
	step(memReturnMinConns) // a second burst, within memReturnInterval of the return
	if step(0) {
		t.Fatalf("returned memory again within %v", memReturnInterval)
	}
	now = now.Add(memReturnInterval)
	if !step(0) {
		t.Fatal("no return for the second burst once memReturnInterval has passed")
	}

	debug.SetGCPercent(-1) // GOGC=off: a burst leaves it off
	step(memBurstConns)
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Fatalf("a burst changed GOGC=off to %d", p)
	}
	step(0)
	if p := debug.SetGCPercent(100); p != -1 {
		t.Fatalf("the quiet tick after a burst changed GOGC=off to %d", p)
	}
}
