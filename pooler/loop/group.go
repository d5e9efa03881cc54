package loop

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
)

// Config is a Group's configuration. Zero values take the defaults named.
type Config struct {
	// Loops is the number of event loops (goroutines polling); default
	// runtime.NumCPU().
	Loops int
	// OutboundLimit is the outbound bytes (buffered in the pooler, beyond what
	// the kernel took) over which Conn.OverLimit reports true; default 256 KiB.
	OutboundLimit int
	// InboundLimit is the most unconsumed inbound bytes kept per conn; a handler
	// that leaves this many unconsumed ends its conn (ErrInboundLimit). Default
	// 1 MiB.
	InboundLimit int
	// ReadBufferSize is each loop's read buffer, shared by its conns, in bytes;
	// default 64 KiB.
	ReadBufferSize int
	// Logger receives handler panics and loop errors; default slog.Default().
	Logger *slog.Logger
}

// Group is a fixed set of event loops.
type Group struct {
	cfg     Config
	loops   []*Loop
	next    atomic.Uint64
	stopped atomic.Bool

	detaches atomic.Uint64 // conns taken off the loops by Detach (Detaches)
}

// Start starts cfg.Loops event loops. Stop them with Group.Stop.
func Start(cfg Config) (*Group, error) {
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.NumCPU()
	}
	if cfg.OutboundLimit <= 0 {
		cfg.OutboundLimit = 256 << 10
	}
	if cfg.InboundLimit <= 0 {
		cfg.InboundLimit = 1 << 20
	}
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = 64 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &Group{cfg: cfg}
	for i := 0; i < cfg.Loops; i++ {
		l, err := startLoop(g, i)
		if err != nil {
			g.Stop()
			return nil, fmt.Errorf("loop: start loop %d: %w", i, err)
		}
		g.loops = append(g.loops, l)
	}
	return g, nil
}

// Len is the number of loops.
func (g *Group) Len() int { return len(g.loops) }

// Loop returns loop i, 0 <= i < Len.
func (g *Group) Loop(i int) *Loop { return g.loops[i] }

// Next returns the loop with the fewest enrolled conns (ties: round robin), for a
// conn that has no peer yet.
func (g *Group) Next() *Loop {
	start := int(g.next.Add(1) % uint64(len(g.loops)))
	best := g.loops[start]
	for i := 1; i < len(g.loops); i++ {
		l := g.loops[(start+i)%len(g.loops)]
		if l.nconns.Load() < best.nconns.Load() {
			best = l
		}
	}
	return best
}

// Stop closes every enrolled conn (each handler's OnClose runs on its loop with
// ErrStopped) and stops the loops. Enroll and Run fail with ErrStopped after it.
func (g *Group) Stop() {
	if g.stopped.Swap(true) {
		return
	}
	for _, l := range g.loops {
		l.stop()
	}
}
