package pooler

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgpooler/pgpooler/pgwire"
)

// cancelRegistry maps the BackendKeyData the pooler gave each client to that client, so that a
// CancelRequest (PostgreSQL protocol docs, "Canceling Requests in Progress") can be routed to the server
// the client holds at that moment. A protocol 3.0 client's 4-byte key is in its clientConn; the 32-byte
// key of a protocol 3.2 client is here in long, so that 3.0 clients pay nothing for 3.2's keys.
type cancelRegistry struct {
	mu      sync.Mutex
	clients map[uint32]*clientConn
	long    map[uint32][pgwire.CancelKeyLen32]byte // the keys of protocol 3.2 clients, by process ID
}

func (r *cancelRegistry) init() {
	r.clients = map[uint32]*clientConn{}
	r.long = map[uint32][pgwire.CancelKeyLen32]byte{}
}

// register gives c a fresh random process ID, within 1..2^31-1 as PostgreSQL's process IDs are (clients
// pass it where SQL wants an int4, such as pg_terminate_backend, or keep it in a signed 32-bit integer),
// and a secret key of keyLen bytes (pgwire.CancelKeyLen30 or pgwire.CancelKeyLen32, as
// Startup.CancelKeyLen tells), both from crypto/rand. It returns the key, for BackendKeyData.
func (r *cancelRegistry) register(c *clientConn, keyLen int) []byte {
	var b [4 + pgwire.CancelKeyLen32]byte
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if _, err := rand.Read(b[:4+keyLen]); err != nil {
			panic("crypto/rand failed: " + err.Error()) // documented never to fail on Linux
		}
		pid := binary.BigEndian.Uint32(b[:4]) & 0x7fffffff
		if pid == 0 {
			continue
		}
		if _, taken := r.clients[pid]; taken {
			continue
		}
		c.cancelPID = pid
		r.clients[pid] = c
		if keyLen == pgwire.CancelKeyLen32 {
			r.long[pid] = [pgwire.CancelKeyLen32]byte(b[4:])
			return bytes.Clone(b[4:])
		}
		c.cancelKey = [4]byte(b[4:])
		return c.cancelKey[:]
	}
}

func (r *cancelRegistry) unregister(c *clientConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clients[c.cancelPID] == c {
		delete(r.clients, c.cancelPID)
		delete(r.long, c.cancelPID)
	}
}

// lookup returns the client whose key matches, comparing the secret in constant time (for a key of the
// client's length: a key of another length never matches). It allocates nothing.
func (r *cancelRegistry) lookup(pid uint32, key []byte) *clientConn {
	r.mu.Lock()
	c := r.clients[pid]
	long, isLong := r.long[pid]
	r.mu.Unlock()
	if c == nil {
		return nil
	}
	want := c.cancelKey[:]
	if isLong {
		want = long[:]
	}
	if subtle.ConstantTimeCompare(want, key) != 1 {
		return nil
	}
	return c
}

// defaultCancelBound bounds forwarding a cancel request when both cancel_wait_timeout and
// server_connect_timeout are 0 (PgBouncer's default server_connect_timeout).
const defaultCancelBound = 15 * time.Second

// cancelBound is how long forwarding one cancel request to PostgreSQL may take, dial, write and the
// server's close together: cancel_wait_timeout, or server_connect_timeout when that is 0 (0 disables a
// wait for a server slot in PgBouncer, doc/config.md cancel_wait_timeout; pgpooler has no such wait, and
// a network exchange is always bounded), or defaultCancelBound when both are 0.
func (s *Server) cancelBound() time.Duration {
	p := s.config().Pooler
	if d := p.CancelWaitTimeout.D(); d > 0 {
		return d
	}
	if d := p.ServerConnectTimeout.D(); d > 0 {
		return d
	}
	return defaultCancelBound
}

// cancelCounters count CancelRequests since start (pgpooler's own; SHOW TOTALS, /metrics).
type cancelCounters struct {
	received   atomic.Int64 // every CancelRequest packet
	forwarded  atomic.Int64 // sent to the server and acknowledged by its close
	unknownKey atomic.Int64 // no client has that process ID and secret key
	failed     atomic.Int64 // could not be delivered within cancelBound
}

func (c *cancelCounters) load() CancelCounters {
	return CancelCounters{Received: c.received.Load(), Forwarded: c.forwarded.Load(), UnknownKey: c.unknownKey.Load(), Failed: c.failed.Load()}
}

// handleCancel forwards a client's CancelRequest to the server that client holds now, if it is running
// something. Like PostgreSQL it answers nothing; a wrong key cancels nothing. Any peer can send one
// without logging in, so the lines about unknown keys are rate-limited; so are those about forwarded and
// failed cancels, which a client can send as fast as it likes.
func (s *Server) handleCancel(pid uint32, key []byte) {
	s.cancelStats.received.Add(1)
	c := s.cancelKeys.lookup(pid, key)
	if c == nil {
		s.cancelStats.unknownKey.Add(1)
		s.unknownCancelLog.log(s.logger, slog.LevelInfo, "cancel request with unknown key ignored")
		return
	}
	c.mu.Lock()
	sc := c.sc
	if sc == nil || (c.pending == 0 && !c.openBatch) {
		c.mu.Unlock()
		return
	}
	sc.cancels.begin() // keeps sc from being lent to another client until the cancel is settled
	c.mu.Unlock()
	c.pool.cancelsActive.Add(1)
	sent, err := sc.cancel(s.cancelBound())
	c.pool.cancelsActive.Add(-1)
	if release, unsure := sc.cancels.end(err == nil || !sent); release {
		s.releaseSettled(sc, unsure)
	}
	if err != nil {
		s.cancelStats.failed.Add(1)
		s.failedCancelLog.log(s.logger, slog.LevelWarn, "cancel request to server failed", "client", c.id, "server", sc.id, "error", err)
		return
	}
	s.cancelStats.forwarded.Add(1)
	s.forwardedCancelLog.log(s.logger, slog.LevelInfo, "cancel request forwarded", "client", c.id, "server", sc.id)
}

// serverCancels tracks the cancel requests in flight for one server connection. While one is, the server
// is not lent to another client: a late cancel meant for the previous client would cancel the next
// one's query (PgBouncer keeps such a server as sv_being_canceled). A server with a cancel that was sent
// and never acknowledged within its bound is never lent again, because that cancel may still arrive.
type serverCancels struct {
	mu       sync.Mutex
	inflight int           // cancel requests being forwarded
	unsure   bool          // one was sent and not acknowledged
	waiting  *atomic.Int32 // a release waits for the last one to end; counted here (pool.beingCanceled)
}

// begin counts a cancel request in flight; the caller holds the linked client's mu, with the server
// still linked, so none begins after the server was unlinked.
func (x *serverCancels) begin() {
	x.mu.Lock()
	x.inflight++
	x.mu.Unlock()
}

// end counts one cancel request finished: settled when it is known to have arrived, or known not to have
// been sent. It reports whether this was the last one and a release waits for it: the caller then
// finishes that release (Server.releaseSettled), with unsure telling whether a cancel was left
// unacknowledged.
func (x *serverCancels) end(settled bool) (release, unsure bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.inflight--
	if !settled {
		x.unsure = true
	}
	if x.inflight > 0 || x.waiting == nil {
		return false, false
	}
	x.waiting.Add(-1)
	x.waiting = nil
	return true, x.unsure
}

// settle reports whether no cancel request is in flight, and if so whether one was left unacknowledged.
// Otherwise the last one to end finishes the release (see end), and waiting counts it until then.
func (x *serverCancels) settle(waiting *atomic.Int32) (unsure, settled bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.inflight == 0 {
		return x.unsure, true
	}
	waiting.Add(1)
	x.waiting = waiting
	return false, false
}
