package pooler

import (
	"errors"
	"net"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// What the Unix socket tells about its peer: the OS user id of the process that connected (Linux
// SO_PEERCRED, the BSDs' and macOS's LOCAL_PEERCRED: peercred_*.go; getpeereid(3) in PgBouncer, src/admin.c
// and src/system.c). Two uses, both as PgBouncer has them:
//   - the console out of the box (consoleOwnUID): the user pgbouncer, and in pgpooler any admin_users
//     name, logging in to the console database over the Unix socket from the uid that runs pgpooler
//     gets in without a password, whatever auth_type says;
//   - the hba method peer (authPeer): the client's OS user name must be its user name.

// errNoPeerCred is peerUID's answer where the OS gives no peer credentials (a TCP connection, or an OS
// without them).
var errNoPeerCred = errors.New("the connection carries no peer credentials")

// peerUID returns the OS user id of the process on the other end of conn, a Unix socket connection.
func peerUID(conn net.Conn) (uint32, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok || conn.LocalAddr().Network() != "unix" {
		return 0, errNoPeerCred
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var uid uint32
	var uerr error
	if err := raw.Control(func(fd uintptr) { uid, uerr = fdPeerUID(int(fd)) }); err != nil {
		return 0, err
	}
	return uid, uerr
}

// consoleOwnUID reports whether the client, logging in to the admin console, is let in without a
// password: its user is pgbouncer or in admin_users, it came over the Unix socket, and the peer's uid is
// pgpooler's own (os.Getuid, the real uid, as PgBouncer's getuid()). PgBouncer doc/usage.md "Admin
// console": "the user name pgbouncer is allowed to log in without password, if the login comes via the
// Unix socket and the client has same Unix user UID as the running process" (src/admin.c
// admin_pre_login, which runs before auth_type and the hba file are looked at); admin_users names too is
// pgpooler's own (issue 12). On success c.identity is set (Method "peer"); runAdmin logs the login.
func (c *clientConn) consoleOwnUID(cfg *config.Config) bool {
	if !c.isUnix() || (c.user != "pgbouncer" && !config.InList(cfg.Pooler.AdminUsers, c.user)) {
		return false
	}
	uid, err := peerUID(c.conn)
	if err != nil || uid != uint32(os.Getuid()) {
		return false
	}
	c.identity = Identity{User: c.user, Database: c.database, Method: "peer"}
	return true
}

// authPeer is the hba method peer (PostgreSQL "Peer Authentication"; PgBouncer src/client.c
// login_as_unix_peer): the client must be on the Unix socket, and the name of its OS user (its uid
// looked up with os/user) must be the user name it logs in as, and with auth_file set the user must be
// in it. Anything else is FATAL 28000 ("Peer authentication failed", as PostgreSQL answers, or "not in
// auth_file", as for trust); the log says why. The map= option (auth_ident_file) is not supported.
func (c *clientConn) authPeer() error {
	uid, err := peerUID(c.conn)
	if err != nil {
		c.logRefused("peer: " + err.Error())
		return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "Peer authentication failed for user %q", c.user)
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		c.logRefused("peer: no OS user for uid " + strconv.FormatUint(uint64(uid), 10))
		return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "Peer authentication failed for user %q", c.user)
	}
	if u.Username != c.user {
		c.logRefused("peer: the OS user is " + strconv.Quote(u.Username))
		return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "Peer authentication failed for user %q", c.user)
	}
	// As for trust (and PgBouncer's peer, which refuses a user it does not know): with auth_file set, the
	// user must be listed in it.
	if ul := c.s.users.Load(); ul != nil {
		if _, ok := ul.Lookup(c.user); !ok {
			c.logRefused("user not in auth_file")
			return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "user %q is not allowed to connect (not in auth_file)", c.user)
		}
	}
	return nil
}
