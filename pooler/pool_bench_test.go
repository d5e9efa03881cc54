package pooler

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// benchPool returns a pool of a Server that serves nothing, holding n idle servers on loopback TCP
// sockets whose far ends nobody reads (pool_size n): acquire's liveness check sees open, quiet connections.
func benchPool(b *testing.B, n int) (*Server, *pool) {
	b.Helper()
	cfg := config.Default()
	cfg.Databases = map[string]config.Database{"*": {}}
	cfg.Pooler.DefaultPoolSize = n // no new server is ever opened
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	p, err := s.getPool("app", "app")
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	for range n {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		far, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close(); far.Close() })
		sc := &serverConn{
			conn: conn, raw: conn, alive: pgwire.NewLiveness(conn), rd: newServerReader(conn), wr: pgwire.NewWriter(conn),
			params: map[string]string{}, reported: map[string]bool{}, created: time.Now(), txStatus: 'I',
		}
		benchAddIdle(s, p, sc)
	}
	return s, p
}

// BenchmarkAcquireRelease lends an idle server and gives it back, as one transaction of transaction
// mode does (acquire's liveness check included). The target is 0 allocs/op.
func BenchmarkAcquireRelease(b *testing.B) {
	s, p := benchPool(b, 1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sc, err := s.acquire(ctx, p)
		if err != nil {
			b.Fatal(err)
		}
		s.release(sc)
	}
}

// BenchmarkAcquireReleaseParallel is BenchmarkAcquireRelease from GOMAXPROCS goroutines at once on one
// pool with more idle servers than goroutines.
func BenchmarkAcquireReleaseParallel(b *testing.B) {
	s, p := benchPool(b, 16)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sc, err := s.acquire(ctx, p)
			if err != nil {
				b.Error(err)
				return
			}
			s.release(sc)
		}
	})
}

// BenchmarkAcquireReleaseContended is BenchmarkAcquireReleaseParallel with one server for every
// goroutine to share: most acquires wait in line and get the server from release (the waiter path,
// query_wait_timeout's timer included).
func BenchmarkAcquireReleaseContended(b *testing.B) {
	s, p := benchPool(b, 1)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sc, err := s.acquire(ctx, p)
			if err != nil {
				b.Error(err)
				return
			}
			s.release(sc)
		}
	})
}

// benchAddIdle counts sc in p and puts it in the idle list.
func benchAddIdle(s *Server, p *pool, sc *serverConn) {
	if !p.q.Open() {
		panic("benchAddIdle: pool full")
	}
	sc.id, sc.pool, sc.gen = s.nextServerID.Add(1), p, p.generation()
	s.release(sc)
}
