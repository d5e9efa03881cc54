package pooler

import (
	"errors"
	"maps"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/session"
)

// The internal queries of a lending on the loop (loopexchange.go), in the order the goroutine code runs
// them (checkIdle, prepareServer; returnAfterClient; syncSessionOrClose): each step an exchange whose
// answer starts the next, the client waiting (lp.waiting, paused) until the server is linked.

// settleResident finishes, on the loop, the lending of sc, resident on the client's loop, that needs
// internal queries first: server_check_query when due, then prepareOnLoop; then the server is linked.
// observed tells that the client's wait was already counted. A server that fails its check is closed
// and the client asks its pool again (lend), as acquire does.
func (lp *loopClient) settleResident(sc *serverConn, observed bool) {
	c := lp.c
	if lp.done { // gone while a goroutine got it: nothing was sent to it
		c.s.releaseOn(sc, lp.l)
		return
	}
	lp.taken = sc // until settled (loopleak.go)
	lp.waiting = true
	if !observed {
		c.pool.obs.Wait(0)
	}
	cfg := c.s.config()
	if !checkDue(sc, cfg) {
		lp.prepareOnLoop(sc)
		return
	}
	sc.res.exec(lp, cfg.Pooler.ServerCheckQuery, func(err error) {
		if err != nil || sc.txStatus != 'I' {
			lp.taken = nil
			c.s.closeServer(sc, "failed its check before reuse")
			lp.waiting = false
			if !lp.done {
				lp.lend()
				if lp.ln == nil && !lp.done && lp.lc != nil {
					lp.lc.Pause()
				}
			}
			return
		}
		lp.prepareOnLoop(sc)
	})
}

// prepareOnLoop is prepareServer on the loop: the Close of the server's shared statements beyond
// max_prepared_statements, the parameter sync, the client's tentative start-up parameters settled, the
// client's SQL-level prepared statements carried; then the server is linked (settled).
func (lp *loopClient) prepareOnLoop(sc *serverConn) {
	c := lp.c
	rs := sc.res
	c.pool.stats.serverAssignments.Add(1)
	p := c.planSync(sc) // sessionstate.go
	if panicHook != nil {
		panicPoint("settle", []byte(p.sql))
	}

	afterSync := func() {
		c.learnTentative(sc)
		if !p.carry {
			lp.settled(sc, nil)
			return
		}
		lp.carryOnLoop(sc)
	}
	sync := func() {
		if p.sql == "" {
			afterSync()
			return
		}
		rs.exec(lp, p.sql, func(err error) {
			if err != nil {
				lp.settled(sc, lp.failedOnLoop(sc, err, "cannot apply the client's session parameters"))
				return
			}
			p.apply()
			afterSync()
		})
	}
	if len(p.evict) == 0 {
		sync()
		return
	}
	var msg []byte
	for _, m := range append(p.evict, &pgproto3.Sync{}) {
		msg, _ = m.Encode(msg)
	}
	rs.exchange(lp, "Close of prepared statements", msg, false, func(_ [][][]byte, err error) {
		if err != nil {
			lp.settled(sc, lp.failedOnLoop(sc, err, "cannot close prepared statements beyond max_prepared_statements"))
			return
		}
		sync()
	})
}

// carryOnLoop is sqlPreparedSync on the loop: DEALLOCATE and PREPARE, one exchange each, so that the
// server holds the client's SQL-level prepared statements; a PREPARE that fails with an ERROR is logged
// and skipped. Then the server is linked (settled).
func (lp *loopClient) carryOnLoop(sc *serverConn) {
	c := lp.c
	c.mu.Lock()
	want := maps.Clone(c.sqlStmts)
	c.mu.Unlock()
	qs := session.CarryPrepared(want, sc.sqlStmts)
	var next func(i int)
	next = func(i int) {
		if i == len(qs) {
			carried(sc, want)
			lp.settled(sc, nil)
			return
		}
		sc.res.exec(lp, qs[i], func(err error) {
			if err != nil && !c.carrySkipped(sc, err) {
				lp.settled(sc, lp.failedOnLoop(sc, err, "cannot carry the client's prepared statements"))
				return
			}
			next(i + 1)
		})
	}
	next(0)
}

// settled ends the internal queries of a lending, as lent does for a goroutine's: the server is linked,
// or, when err is set (the server disposed of by failedOnLoop), the client gets err and is closed; a
// client gone meanwhile leaves its server to its pool.
func (lp *loopClient) settled(sc *serverConn, err error) {
	lp.waiting = false
	lp.taken = nil
	switch {
	case lp.done:
		if err == nil {
			lp.c.s.releaseOn(sc, lp.l)
		}
	case err != nil:
		lp.failErr(err)
	default:
		lp.attach(sc)
	}
}

// failedOnLoop is failedInternal on the loop: a server that answered an ordinary ERROR goes back to its
// pool (on the loop), any other is closed. It returns the error for the client (FATAL).
func (lp *loopClient) failedOnLoop(sc *serverConn, err error, what string) error {
	s := lp.c.s
	var pe *pgwire.Error
	if errors.As(err, &pe) && pe.Severity == pgwire.SeverityError && sc.txStatus == 'I' {
		s.releaseOn(sc, lp.l)
		return &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pe.Code, Message: what + ": " + pe.Message, Detail: pe.Detail, Hint: pe.Hint}
	}
	s.closeServer(sc, what+": "+err.Error())
	return asClientError(err)
}

// returnOnLoop is returnAfterClient on the server's loop, for a resident server whose client left
// cleanly between messages: ROLLBACK when it was inside a transaction, server_reset_query in session
// mode (or always with server_reset_query_always), then it goes back to its pool; a failure closes it.
func (s *Server) returnOnLoop(rs *residentServer, mode string) {
	sc := rs.sc
	reset := func() {
		cfg := &s.config().Pooler
		q := cfg.ServerResetQuery
		if q == "" || (mode != modeSession && !cfg.ServerResetQueryAlways) {
			s.releaseOn(sc, rs.l)
			return
		}
		rs.exec(nil, q, func(err error) {
			if err != nil || sc.txStatus != 'I' {
				s.closeServer(sc, "server_reset_query failed")
				return
			}
			afterResetQuery(sc, q) // no client is linked: nobody else touches sc's statements
			s.releaseOn(sc, rs.l)
		})
	}
	if sc.txStatus == 'I' {
		reset()
		return
	}
	rs.exec(nil, "ROLLBACK", func(err error) {
		if err != nil || sc.txStatus != 'I' {
			s.closeServer(sc, "rollback after client disconnect failed")
			return
		}
		reset()
	})
}

// syncSessionOnLoop is syncSessionOrClose on the loop, for the server of a link that has just ended
// (sets not empty): what the transaction's PREPARE and DEALLOCATE left (pg_prepared_statements), then
// its SET and RESET (pg_settings), read back into the client's state; done(true) when the server may go
// back to its pool, done(false) when it could not answer and was closed.
func (lp *loopClient) syncSessionOnLoop(rs *residentServer, sets session.Sets, done func(ok bool)) {
	c, sc := lp.c, rs.sc
	failed := func(err error) {
		c.s.logger.Warn("cannot read the session parameters a client set; closing its server", "client", c.id, "error", err.Error())
		c.s.closeServer(sc, "session parameter read failed")
		done(false)
	}
	if sets.All {
		c.afterResetAll(sc)
	}
	settings := func() {
		query, arg := session.ReadBack(&sets, sc.params, sc.reported)
		if query == "" {
			done(true)
			return
		}
		rs.queryRows(lp, query, []string{arg}, func(rows [][][]byte, err error) {
			if err != nil {
				failed(err)
				return
			}
			c.applySettings(sc, rows, &sets)
			done(true)
		})
	}
	if sets.DeallocAll {
		c.afterDeallocAll(sc)
	}
	query, arg, names := session.PreparedReadBack(&sets)
	if names == nil {
		settings()
		return
	}
	rs.queryRows(lp, query, []string{arg}, func(rows [][][]byte, err error) {
		if err != nil {
			failed(err)
			return
		}
		c.applyPrepared(sc, rows, names)
		settings()
	})
}
