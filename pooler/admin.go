package pooler

import (
	"bytes"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/admin"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// The admin console (PgBouncer doc/usage.md, "Admin console") is package admin: its commands, SHOW
// results and process control, over the Server's side of it (console.go). Here is its connection: the
// login (as to any database, then admin_users or stats_users), the greeting, and the loop that reads
// Query messages and writes what admin.Session.Exec answers.

// isAdminDatabase reports whether a client's start-up parameters ask for the admin console.
func isAdminDatabase(params map[string]string) bool {
	db := params["database"]
	if db == "" {
		db = params["user"]
	}
	return admin.IsName(db)
}

// adminSession is a logged-in admin console client: its connection and what the console makes of its
// queries.
type adminSession struct {
	c    *clientConn
	sess *admin.Session
}

// serveAdmin runs an admin console connection from its StartupMessage to its end: login, then the
// console's commands. It always returns a non-nil error (errQuiet when the client said Terminate), so
// that serve never runs the relay for it.
func (c *clientConn) serveAdmin(st *pgwire.Startup) error {
	err := c.runAdmin(st)
	if err == nil {
		err = errQuiet
	}
	return err
}

// runAdmin logs the console client in and serves its queries.
func (c *clientConn) runAdmin(st *pgwire.Startup) error {
	cfg := c.s.config()
	c.user = st.Params["user"]
	if c.user == "" {
		return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "no PostgreSQL user name specified in startup packet")
	}
	c.database = st.Params["database"]
	if c.database == "" {
		c.database = c.user
	}
	c.s.mu.Lock()
	if c.s.closing {
		c.s.mu.Unlock()
		return pgwire.NewFatal(pgerrcode.CannotConnectNow, "pgpooler is shutting down")
	}
	c.s.clients[c] = struct{}{}
	c.s.mu.Unlock()

	ownUID := c.consoleOwnUID(cfg) // pgbouncer or an admin over the Unix socket from our uid (peercred.go)
	if !ownUID {
		if err := c.authenticate(cfg); err != nil {
			return err
		}
	}
	a := &adminSession{c: c, sess: c.s.consoleSession(c, ownUID || config.InList(cfg.Pooler.AdminUsers, c.identity.User))}
	if !a.sess.Admin && !config.InList(cfg.Pooler.StatsUsers, c.identity.User) {
		c.logRefused("not in admin_users or stats_users")
		return pgwire.NewFatal(pgerrcode.InsufficientPrivilege, "user %q is not allowed to use the admin console (not in admin_users or stats_users)", c.user)
	}
	_ = c.conn.SetDeadline(time.Time{}) // client_login_timeout is over
	c.mu.Lock()
	c.loggedIn = true
	c.params = map[string]string{"application_name": st.Params["application_name"]}
	c.mu.Unlock()
	key := c.s.cancelKeys.register(c, st.CancelKeyLen())
	if cfg.Pooler.LogConnections {
		role := "stats_users"
		if a.sess.Admin {
			role = "admin_users"
		}
		if ownUID {
			role = "admin, over the Unix socket from pgpooler's own uid without a password"
		}
		c.s.logger.Info("admin console connected", "client", c.id, "addr", c.remote, "user", c.user, "as", role)
	}
	if err := a.write(admin.Welcome(st, c.cancelPID, key)); err != nil {
		return errQuiet
	}
	return a.run()
}

// write sends buf to the client.
func (a *adminSession) write(buf []byte) error {
	a.c.wmu.Lock()
	defer a.c.wmu.Unlock()
	if err := a.c.wr.Write(buf); err != nil {
		return err
	}
	return a.c.wr.Flush()
}

// run reads the client's queries and answers them until it leaves. client_idle_timeout applies.
func (a *adminSession) run() error {
	c := a.c
	for {
		if !c.rd.HasMessage() {
			c.setIdleDeadline()
		}
		typ, _, err := c.rd.Next()
		if err != nil {
			return c.readError(err)
		}
		switch typ {
		case 'Q':
		case 'X':
			return errQuiet
		case 'P', 'B', 'E', 'D', 'S', 'H', 'C':
			return admin.ErrExtended()
		default:
			return pgwire.ProtocolViolation("unsupported message type %q for the admin console", typ)
		}
		msg, err := c.rd.ReadMsg()
		if err != nil {
			return c.readError(err)
		}
		body := msg[pgwire.HeaderSize:]
		end := bytes.IndexByte(body, 0)
		if end < 0 {
			return pgwire.ProtocolViolation("malformed Query message: no terminating zero byte")
		}
		out, fatal := a.sess.Exec(c.s.baseCtx, string(body[:end]))
		if err := a.write(out); err != nil {
			return errQuiet
		}
		if fatal != nil {
			return fatal
		}
	}
}
