package pooler

// dropTaken runs when the client's own handler panicked (pooler/loop panic.go closes the client with
// loop.ErrPanic; OnClose calls it) while the loop held a server got for the client and not yet linked
// (lp.taken: set by takeResident, settleResident and lent, cleared by attach, settled and the paths that
// give the server back). Nobody else would give that server back, and its state is unknown after the
// panic: it is closed and its pool slot freed (closeServer), unless it is already disposed of (closed,
// linked to a client, in an internal query, which goes on and sees the client gone, or no longer
// resident) or, back in its idle list by a path that did not clear lp.taken, it is taken out first.
func (lp *loopClient) dropTaken() {
	sc := lp.taken
	lp.taken = nil
	if sc == nil || sc.dropped.Load() {
		return
	}
	rs := sc.res
	if rs == nil || rs.ln != nil || (rs.x != nil && rs.x.active) {
		return
	}
	sc.pool.q.Sweep(func(s *serverConn, _ int) bool { return s == sc })
	lp.c.s.closeServer(sc, "panic while preparing the server for its client")
}
