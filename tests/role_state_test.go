package tests

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// tenantRole is a role appUser may SET ROLE to.
const tenantRole = "pooler_tenant"

// ensureTenantRole creates tenantRole and grants it to appUser, directly as the superuser.
func ensureTenantRole(t testing.TB) {
	t.Helper()
	super := superConn(t, pg)
	mustExec(t, super, `DO $$ BEGIN
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '`+tenantRole+`') THEN
			CREATE ROLE `+tenantRole+`;
		END IF;
	END $$`)
	mustExec(t, super, "GRANT "+tenantRole+" TO "+appUser)
}

// whoami returns current_user and session_user through conn, in one simple query.
func whoami(t testing.TB, conn *pgx.Conn) (current, session string) {
	t.Helper()
	if err := conn.QueryRow(context.Background(), "SELECT current_user::text, session_user::text", pgx.QueryExecModeSimpleProtocol).Scan(&current, &session); err != nil {
		t.Fatal(err)
	}
	return current, session
}

// wantUser fails the test unless conn's current_user is want.
func wantUser(t testing.TB, conn *pgx.Conn, who, when, want string) {
	t.Helper()
	if got, _ := whoami(t, conn); got != want {
		t.Fatalf("%s %s: current_user %q, want %q", who, when, got, want)
	}
}

// TestSetRoleFollowsClient: in transaction mode SET ROLE follows the client that ran it to its next
// server, and never reaches another client of the server it ran on (whose privileges it would change);
// SET LOCAL ROLE, a rolled-back SET ROLE, RESET ALL (which keeps the role in PostgreSQL) and RESET ROLE
// behave as on a direct connection, over the simple and the extended protocol.
func TestSetRoleFollowsClient(t *testing.T) {
	ensureTenantRole(t)
	ctx := context.Background()
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 1 // a and b take turns on one server
	})
	a := connectDB(t, tp, appDB)
	b := connectDB(t, tp, appDB)

	mustExec(t, a, "SET ROLE "+tenantRole, pgx.QueryExecModeSimpleProtocol)
	wantUser(t, b, "b", "after a's SET ROLE on the shared server", appUser)
	wantUser(t, a, "a", "after its SET ROLE", tenantRole)
	wantUser(t, b, "b", "again", appUser)

	mustExec(t, a, "RESET ALL", pgx.QueryExecModeSimpleProtocol)
	wantUser(t, a, "a", "after RESET ALL (which leaves the role)", tenantRole)

	if _, err := a.PgConn().ExecParams(ctx, "RESET ROLE", nil, nil, nil, nil).Close(); err != nil { // extended protocol
		t.Fatal(err)
	}
	wantUser(t, a, "a", "after RESET ROLE", appUser)

	tx, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx.Conn(), "SET LOCAL ROLE "+tenantRole)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wantUser(t, a, "a", "after SET LOCAL ROLE", appUser)

	tx, err = a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx.Conn(), "SET ROLE "+tenantRole)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wantUser(t, a, "a", "after a rolled-back SET ROLE", appUser)

	if _, err := a.PgConn().ExecParams(ctx, "SET ROLE "+tenantRole, nil, nil, nil, nil).Close(); err != nil {
		t.Fatal(err)
	}
	wantUser(t, b, "b", "after a's SET ROLE over the extended protocol", appUser)
	wantUser(t, a, "a", "after SET ROLE over the extended protocol", tenantRole)
	mustExec(t, a, "DISCARD ALL", pgx.QueryExecModeSimpleProtocol)
	wantUser(t, a, "a", "after DISCARD ALL", appUser)
}

// TestSessionAuthorizationFollowsClient: a superuser's SET SESSION AUTHORIZATION follows that client in
// transaction mode, and the next client of the server it ran on is back to its own login user.
func TestSessionAuthorizationFollowsClient(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 1
		c.Databases["*"] = config.Database{Host: pg.Host, Port: pg.Port, User: pg.SuperUser, Password: pg.Password}
	})
	a := connectDB(t, tp, appDB)
	b := connectDB(t, tp, appDB)
	mustExec(t, a, "SET SESSION AUTHORIZATION "+appUser, pgx.QueryExecModeSimpleProtocol)
	if _, session := whoami(t, b); session != pg.SuperUser {
		t.Fatalf("b's session_user is %q after a's SET SESSION AUTHORIZATION on the shared server, want %q", session, pg.SuperUser)
	}
	if _, session := whoami(t, a); session != appUser {
		t.Fatalf("a's session_user is %q, want %q", session, appUser)
	}
	mustExec(t, a, "RESET ALL", pgx.QueryExecModeSimpleProtocol) // as in PostgreSQL, it keeps the session user
	if _, session := whoami(t, a); session != appUser {
		t.Fatalf("a's session_user after RESET ALL is %q, want %q", session, appUser)
	}
	mustExec(t, a, "RESET SESSION AUTHORIZATION", pgx.QueryExecModeSimpleProtocol)
	if _, session := whoami(t, a); session != pg.SuperUser {
		t.Fatalf("a's session_user after RESET SESSION AUTHORIZATION is %q, want %q", session, pg.SuperUser)
	}
	mustExec(t, a, "SET SESSION AUTHORIZATION "+appUser, pgx.QueryExecModeSimpleProtocol)
	mustExec(t, a, "DISCARD ALL", pgx.QueryExecModeSimpleProtocol)
	if _, session := whoami(t, a); session != pg.SuperUser {
		t.Fatalf("a's session_user after DISCARD ALL is %q, want %q", session, pg.SuperUser)
	}
}

// TestSetConfigFollowsClient: set_config(name, value, false) in a query is a SET the pooler cannot read
// from the text; it still follows the client, the role included, and stays off the next client.
func TestSetConfigFollowsClient(t *testing.T) {
	ensureTenantRole(t)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 1
	})
	a := connectDB(t, tp, appDB)
	b := connectDB(t, tp, appDB)
	defaultPath, _ := setting(t, b, "search_path")
	mustExec(t, a, "SELECT set_config('search_path', 'pooler_cfg, public', false), set_config('role', '"+tenantRole+"', false)", pgx.QueryExecModeSimpleProtocol)
	wantUser(t, b, "b", "after a's set_config('role') on the shared server", appUser)
	if path, _ := setting(t, b, "search_path"); path != defaultPath {
		t.Fatalf("b's search_path is %q after a's set_config on the shared server, want %q", path, defaultPath)
	}
	wantUser(t, a, "a", "after its set_config('role')", tenantRole)
	if path, _ := setting(t, a, "search_path"); path != "pooler_cfg, public" {
		t.Fatalf("a's search_path is %q after its set_config, want %q", path, "pooler_cfg, public")
	}
	mustExec(t, a, "SELECT set_config('search_path', '"+defaultPath+"', false), set_config('role', 'none', false)", pgx.QueryExecModeSimpleProtocol)
	wantUser(t, a, "a", "after set_config('role', 'none')", appUser)
}
