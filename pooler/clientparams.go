package pooler

import "maps"

// A client's session parameters (clientConn.params, and baseParams, what RESET restores) are shared, copy
// on write, with the pool's other clients that logged in with the same ones: the common case (a driver
// that sends the same start-up parameters every time) then costs an idle client no map of its own. A
// shared map is never written; a client's first change (a ParameterStatus with a new value, a SET or
// RESET carried between servers, a tentative start-up value settled) copies it first.

// adoptParamsLocked makes params the client's session parameters and base parameters, shared with the
// pool's other clients when they hold the same (pool.sharedParams); called with c.mu held, at login.
func (c *clientConn) adoptParamsLocked(params map[string]string) {
	if shared := c.pool.sharedParams.Load(); shared != nil && maps.Equal(*shared, params) {
		params = *shared
	} else {
		c.pool.sharedParams.Store(&params) // from now on read only: every holder has it shared
	}
	c.params, c.baseParams = params, params
	c.ownParams, c.ownBase = false, false
}

// writableParamsLocked returns c.params after making it the client's own (c.mu held).
func (c *clientConn) writableParamsLocked() map[string]string {
	if !c.ownParams {
		c.params, c.ownParams = maps.Clone(c.params), true
	}
	return c.params
}

// writableBaseParamsLocked returns c.baseParams after making it the client's own (c.mu held).
func (c *clientConn) writableBaseParamsLocked() map[string]string {
	if !c.ownBase {
		c.baseParams, c.ownBase = maps.Clone(c.baseParams), true
	}
	return c.baseParams
}

// setParamLocked sets the client's session parameter name (lower case) to value, copying a shared map
// only when the value changes (c.mu held).
func (c *clientConn) setParamLocked(name, value string) {
	if cur, ok := c.params[name]; ok && cur == value {
		return
	}
	c.writableParamsLocked()[name] = value
}
