package pooler

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"sync"
)

// cancelRegistry maps the BackendKeyData the pooler gave each client to that client, so that a
// CancelRequest (PostgreSQL protocol docs, "Canceling Requests in Progress") can be routed to the server
// the client holds at that moment.
type cancelRegistry struct {
	mu      sync.Mutex
	clients map[uint32]*clientConn
}

func (r *cancelRegistry) init() { r.clients = map[uint32]*clientConn{} }

// register gives c a fresh random process ID and 4-byte secret key from crypto/rand.
func (r *cancelRegistry) register(c *clientConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic("crypto/rand failed: " + err.Error()) // documented never to fail on Linux
		}
		pid := binary.BigEndian.Uint32(b[:4])
		if pid == 0 {
			continue
		}
		if _, taken := r.clients[pid]; taken {
			continue
		}
		c.cancelPID = pid
		c.cancelKey = append([]byte(nil), b[4:]...)
		r.clients[pid] = c
		return
	}
}

func (r *cancelRegistry) unregister(c *clientConn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clients[c.cancelPID] == c {
		delete(r.clients, c.cancelPID)
	}
}

// lookup returns the client whose key matches, comparing the secret in constant time.
func (r *cancelRegistry) lookup(pid uint32, key []byte) *clientConn {
	r.mu.Lock()
	c := r.clients[pid]
	r.mu.Unlock()
	if c == nil || subtle.ConstantTimeCompare(c.cancelKey, key) != 1 {
		return nil
	}
	return c
}

// handleCancel forwards a client's CancelRequest to the server that client holds now, if it is running
// something. Like PostgreSQL it answers nothing; a wrong key cancels nothing.
func (s *Server) handleCancel(pid uint32, key []byte) {
	c := s.cancelKeys.lookup(pid, key)
	if c == nil {
		s.logger.Info("cancel request with unknown key ignored")
		return
	}
	c.mu.Lock()
	sc := c.sc
	if sc == nil || (c.pending == 0 && !c.openBatch) {
		c.mu.Unlock()
		return
	}
	sc.cancels.Add(1) // keeps sc from being lent to another client until the cancel is delivered
	c.mu.Unlock()
	defer sc.cancels.Done()
	if err := sc.cancel(s.config().Pooler.CancelWaitTimeout.D()); err != nil {
		s.logger.Warn("cancel request to server failed", "client", c.id, "server", sc.id, "error", err)
		return
	}
	s.logger.Info("cancel request forwarded", "client", c.id, "server", sc.id)
}
