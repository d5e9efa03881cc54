package pooler

// benchAddIdle counts sc in p and puts it in the idle list.
func benchAddIdle(s *Server, p *pool, sc *serverConn) {
	if !p.q.Open() {
		panic("benchAddIdle: pool full")
	}
	sc.id, sc.pool, sc.gen = s.nextServerID.Add(1), p, p.generation()
	s.release(sc)
}
