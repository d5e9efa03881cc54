package pooler

import "context"

// clientCtx is a client's context and its cancel function, made when first needed (clientConn.context).
type clientCtx struct {
	ctx context.Context
	end context.CancelCauseFunc
}

// context returns the client's context: it ends when the client is gone or killed (cancel; cause
// errQuiet), or at Shutdown (its parent is the Server's base context). It is made on first use: by a wait
// for a server (acquire, the loop's waits in loopwait.go) or by cancel. An idle client on an event loop
// that has not waited since its login has none, which saves it the context, its cancel function and its
// entry among the base context's children (about 180 bytes; docs/architecture.md, idle clients).
func (c *clientConn) context() context.Context {
	if cc := c.life.Load(); cc != nil {
		return cc.ctx
	}
	ctx, end := context.WithCancelCause(c.s.baseCtx)
	if !c.life.CompareAndSwap(nil, &clientCtx{ctx: ctx, end: end}) {
		end(nil) // another goroutine made it first
		return c.life.Load().ctx
	}
	return ctx
}

// cancel ends the client's context with cause (errQuiet for KILL_CLIENT, KILL and the client's end) and
// tells the event loop of a client served there (ctxCancelled). Safe from any goroutine, more than once.
// A client that never made its context (nothing waited on it) is given the Server's ended one
// (endedCtx) rather than a context made only to be ended: every login of pgbench -C made one at its
// close, an allocation and a turn of the base context's lock.
func (c *clientConn) cancel(cause error) {
	if cause == errQuiet && c.life.CompareAndSwap(nil, c.s.ended) {
		c.ctxCancelled()
		return
	}
	c.context()
	c.life.Load().end(cause)
	c.ctxCancelled()
}

// endedCtx returns a context of base that has ended with cause errQuiet, as a client's context does once
// cancelled: its Err, Cause, Done and Deadline are those, so it stands for any such client's. A context
// made of it, or an AfterFunc on it, ends or runs at once and is not kept among its children.
func endedCtx(base context.Context) *clientCtx {
	ctx, end := context.WithCancelCause(base)
	end(errQuiet)
	return &clientCtx{ctx: ctx, end: end}
}

// ctxErr is c.context().Err() without making the context: the base context's error while it is unmade
// (cancel makes it).
func (c *clientConn) ctxErr() error {
	if cc := c.life.Load(); cc != nil {
		return cc.ctx.Err()
	}
	return c.s.baseCtx.Err()
}

// ctxCause is context.Cause(c.context()) without making the context.
func (c *clientConn) ctxCause() error {
	if cc := c.life.Load(); cc != nil {
		return context.Cause(cc.ctx)
	}
	return context.Cause(c.s.baseCtx)
}
