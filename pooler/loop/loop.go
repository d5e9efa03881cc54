package loop

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
)

func init() { logging.SetLevel(logging.LevelNone) }

// Loop is one event loop: one nbio engine with one edge-triggered poller, whose
// goroutine runs every callback of the conns enrolled on it.
type Loop struct {
	g      *Group
	idx    int
	eng    *nbio.Engine
	epfd   int // eng's epoll descriptor for Detach; -1 when unknown
	nconns atomic.Int64

	mu      sync.Mutex
	queue   []func()
	spare   []func() // the last run queue, emptied, for reuse
	closing bool
	wakeFD  int          // write end of the wake socket pair
	wakes   atomic.Int64 // writes to wakeFD (tests)
	wake    *nbio.Conn   // read end, enrolled on eng

	// Owned by the loop goroutine.
	conns        map[*Conn]struct{}
	soon         []*Conn   // resumed during the callback running now (runSoon)
	lastYield    time.Time // when the loop goroutine last yielded (yieldSometimes)
	now          time.Time // the time of the event being handled (Now)
	spareScratch [][]byte  // Scratch's free list (scratch.go)
}

// wakeMark is the session of a loop's wake conn.
type wakeMark struct{}

func startLoop(g *Group, idx int) (*Loop, error) {
	l := &Loop{g: g, idx: idx, conns: make(map[*Conn]struct{})}
	l.eng = nbio.NewEngine(nbio.Config{
		Name:           "pgpooler-loop",
		NPoller:        1,
		EpollMod:       nbio.EPOLLET,
		ReadBufferSize: g.cfg.ReadBufferSize,
	})
	l.eng.OnRead(l.onRead)
	l.eng.OnWrittenSize(l.onWritten)
	l.eng.OnClose(l.onClosed)
	syncOnClose(l.eng, l.onClosed) // no goroutine per closed conn (closesync.go)
	if err := l.eng.Start(); err != nil {
		return nil, err
	}
	l.epfd = pollFD(l.eng)
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		l.eng.Stop()
		return nil, err
	}
	f := os.NewFile(uintptr(fds[0]), "loop-wake")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		syscall.Close(fds[1])
		l.eng.Stop()
		return nil, err
	}
	wc, err := nbio.NBConn(fc) // dups and closes fc
	if err != nil {
		syscall.Close(fds[1])
		l.eng.Stop()
		return nil, err
	}
	wc.SetSession(wakeMark{})
	l.wake, l.wakeFD = wc, fds[1]
	if _, err := l.eng.AddConn(wc); err != nil {
		syscall.Close(fds[1])
		l.eng.Stop()
		return nil, err
	}
	return l, nil
}

// Index is the loop's index in its Group.
func (l *Loop) Index() int { return l.idx }

// Conns is the number of conns enrolled on the loop now.
func (l *Loop) Conns() int { return int(l.nconns.Load()) }

// Run queues f to run on the loop's goroutine, in order with other Run calls;
// safe from any goroutine (and from the loop itself, where f runs later, not
// now). A panic in f is logged with its stack. It returns ErrStopped once the
// group is stopping.
func (l *Loop) Run(f func()) error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return ErrStopped
	}
	l.queue = append(l.queue, f)
	first := len(l.queue) == 1
	l.mu.Unlock()
	if first {
		l.wakes.Add(1)
		// EAGAIN: the socket already holds wake bytes the loop has not read.
		_, _ = syscall.Write(l.wakeFD, []byte{1})
	}
	return nil
}

// runQueue runs the queued functions; on the loop, when the wake conn is readable.
func (l *Loop) runQueue(c *nbio.Conn) {
	var buf [64]byte
	for {
		n, err := c.Read(buf[:])
		if n < len(buf) || err != nil {
			break
		}
	}
	l.mu.Lock()
	fs := l.queue
	l.queue, l.spare = l.spare, nil
	l.mu.Unlock()
	for i, f := range fs {
		l.safeRun(f)
		fs[i] = nil
	}
	l.mu.Lock()
	if l.spare == nil {
		l.spare = fs[:0]
	}
	l.mu.Unlock()
}

func (l *Loop) safeRun(f func()) {
	defer func() {
		if r := recover(); r != nil {
			l.g.cfg.Logger.Error("loop: panic in a function run on the loop", "loop", l.idx, "panic", r, "stack", stack())
		}
	}()
	f()
}

func (l *Loop) onRead(nc *nbio.Conn) {
	l.yieldSometimes()
	switch s := nc.Session().(type) {
	case *Conn:
		s.readable()
	case wakeMark:
		l.runQueue(nc)
	case *Listener:
		s.accept()
	}
	l.runSoon()
}

// runSoon goes on with the conns resumed during the callback that just returned (Conn.Resume), and with
// those they resume in turn. Every callback of the loop's conns, queued function and timer runs within
// onRead (nbio's read event of a conn or of the wake socket), so nothing waits here for a wake-up: in
// place of a Loop.Run per Resume, which cost a closure, a write to the wake socket and its read.
func (l *Loop) runSoon() {
	for i := 0; i < len(l.soon); i++ {
		c := l.soon[i]
		l.soon[i] = nil
		c.resumed()
	}
	l.soon = l.soon[:0]
}

func (l *Loop) onWritten(nc *nbio.Conn, _ []byte, n int) {
	if c, ok := nc.Session().(*Conn); ok {
		c.written(n)
	}
}

// onClosed runs when nbio has closed a conn, itself (peer hang-up, write error) or
// after Conn.Close, on the goroutine that closed it (syncOnClose; else on one of
// nbio's); the handler hears of it on the loop. A conn the loop closed or finished
// itself (Conn.gone) needs nothing queued: no wake-up of the loop per closed conn.
func (l *Loop) onClosed(nc *nbio.Conn, err error) {
	c, ok := nc.Session().(*Conn)
	if !ok || c.gone.Load() {
		return
	}
	if err == nil {
		err = errors.New("loop: closed")
	}
	_ = l.Run(func() { c.finish(err) })
}

// stop closes the loop's conns on the loop, then stops its engine.
func (l *Loop) stop() {
	done := make(chan struct{})
	if l.Run(func() {
		for c := range l.conns {
			c.closeWith(ErrStopped)
		}
		close(done)
	}) == nil {
		<-done
	}
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	l.eng.Stop()
	syscall.Close(l.wakeFD)
}
