package tests

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// dbParams are the [databases.NAME] client_encoding, datestyle and timezone of TestDatabaseStartupParams,
// each unlike the shared PostgreSQL's default, by the names PostgreSQL reports them under.
var dbParams = map[string]string{"client_encoding": "LATIN1", "DateStyle": "SQL, DMY", "TimeZone": "Pacific/Chatham"}

// TestDatabaseStartupParams: a database's client_encoding, datestyle and timezone (PgBouncer doc/config.md,
// [databases]: "Ask specific ... from server") go into its server logins, so a client that sets none of
// them is greeted with them and SHOW gives them; a client that logs in with its own DateStyle and
// TimeZone keeps its own on the same server (pool_size 1), in transaction mode between the other
// client's transactions, in session mode after the other client's session (and back again).
func TestDatabaseStartupParams(t *testing.T) {
	own := map[string]string{"client_encoding": "LATIN1", "DateStyle": "ISO, MDY", "TimeZone": "UTC"}
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			tp := startPooler(t, func(c *config.Config) {
				c.Pooler.PoolMode = mode
				c.Databases["dbparams"] = config.Database{Host: pg.Host, Port: pg.Port, DBName: appDB,
					Password: appPassword, PoolSize: ptr(1),
					ClientEncoding: dbParams["client_encoding"], DateStyle: dbParams["DateStyle"], TimeZone: dbParams["TimeZone"]}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			connect := func(extra string) *pgx.Conn {
				t.Helper()
				conn, err := pgx.Connect(ctx, tp.pgxURL("dbparams")+extra)
				if err != nil {
					t.Fatalf("connect%s: %v", extra, err)
				}
				t.Cleanup(func() { conn.Close(context.Background()) })
				return conn
			}
			plain := connect("")
			checkParams(t, ctx, "a client that set none", plain, dbParams, true)
			mine := "&DateStyle=ISO%2C%20MDY&TimeZone=UTC"
			if mode == "session" { // the one server is plain's until it leaves
				plain.Close(ctx)
			}
			ownConn := connect(mine)
			checkParams(t, ctx, "a client with its own", ownConn, own, true)
			if mode == "session" {
				ownConn.Close(ctx)
				plain = connect("")
				checkParams(t, ctx, "a client that set none, after the other's session", plain, dbParams, true)
				return
			}
			checkParams(t, ctx, "a client that set none, after the other's transaction", plain, dbParams, false)
			checkParams(t, ctx, "a client with its own, after the other's transaction", ownConn, own, false)

			// A RELOAD that changes datestyle retires the pool's servers and greeting, as one that changes
			// application_name does: the next client logs in with the new value; those logged in keep theirs.
			next := *tp.cfg
			next.Databases = maps.Clone(tp.cfg.Databases)
			db := next.Databases["dbparams"]
			db.DateStyle = "German, DMY"
			next.Databases["dbparams"] = db
			if err := tp.srv.Reload(&next); err != nil {
				t.Fatal(err)
			}
			reloaded := maps.Clone(dbParams)
			reloaded["DateStyle"] = "German, DMY"
			checkParams(t, ctx, "a client that set none, after a RELOAD", connect(""), reloaded, true)
			checkParams(t, ctx, "a client that set none, logged in before the RELOAD", plain, dbParams, false)
		})
	}
}

// checkParams asserts what SHOW gives for each parameter of want on conn, and, when greeting, what the
// pooler's ParameterStatus at login said.
func checkParams(t *testing.T, ctx context.Context, who string, conn *pgx.Conn, want map[string]string, greeting bool) {
	t.Helper()
	for name, v := range want {
		if greeting {
			if got := conn.PgConn().ParameterStatus(name); got != v {
				t.Errorf("%s: ParameterStatus %s at login = %q, want %q", who, name, got, v)
			}
		}
		var got string
		if err := conn.QueryRow(ctx, "SHOW "+name).Scan(&got); err != nil || got != v {
			t.Errorf("%s: SHOW %s = %q (%v), want %q", who, name, got, err, v)
		}
	}
}
