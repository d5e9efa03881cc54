package loop

// Handler receives a connection's events. Every method runs on the conn's loop.
type Handler interface {
	// OnData is called with every inbound byte not yet consumed (earlier leftovers
	// first). It returns how many bytes, from the start, it consumed; the rest is
	// kept and offered again with the next read. data is only valid during the
	// call. Returning less than len(data) while len(data) >= Config.InboundLimit
	// closes the conn with ErrInboundLimit.
	OnData(c *Conn, data []byte) (consumed int)

	// OnDrained is called once the outbound buffer has emptied after a Write left
	// it over Config.OutboundLimit (Conn.OverLimit was true): the time to Resume
	// a peer paused for this conn.
	OnDrained(c *Conn)

	// OnClose is called once when the conn has closed, by either side; err is the
	// cause (nil after Conn.Close, io.EOF when the peer closed).
	OnClose(c *Conn, err error)
}
