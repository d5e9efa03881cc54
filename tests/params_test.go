package tests

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// TestStartupParameters: parameters a client sends at start-up (search_path and client_min_messages,
// which PgBouncer rejects, DateStyle, application_name) are applied on whichever server the client gets,
// and a client that did not send them never sees another client's values, with a single shared server in
// transaction mode.
func TestStartupParameters(t *testing.T) {
	tp := startPooler(t, transactionPool(1))
	ctx := context.Background()
	setup := tp.connect(t)
	mustExec(t, setup, "CREATE SCHEMA IF NOT EXISTS other")
	mustExec(t, setup, "CREATE TABLE IF NOT EXISTS other.marker (v text)")
	mustExec(t, setup, "TRUNCATE other.marker")
	mustExec(t, setup, "INSERT INTO other.marker VALUES ('other schema')")

	custom, err := pgx.Connect(ctx, tp.pgxURL(appDB)+"&search_path=other,public&client_min_messages=warning&DateStyle=german&application_name=custom-app")
	if err != nil {
		t.Fatalf("connect with startup parameters: %v", err)
	}
	defer custom.Close(ctx)
	plain := tp.connect(t)

	if got := custom.PgConn().ParameterStatus("DateStyle"); got != "German, DMY" {
		t.Errorf("ParameterStatus DateStyle at login = %q, want the server's normalised %q", got, "German, DMY")
	}
	if got := custom.PgConn().ParameterStatus("application_name"); got != "custom-app" {
		t.Errorf("ParameterStatus application_name = %q, want custom-app", got)
	}
	for i := range 5 { // alternate clients on the single server
		var path, cmm, ds, app, marker string
		row := custom.QueryRow(ctx, "SELECT current_setting('search_path'), current_setting('client_min_messages'), current_setting('DateStyle'), current_setting('application_name'), (SELECT v FROM marker)")
		if err := row.Scan(&path, &cmm, &ds, &app, &marker); err != nil {
			t.Fatalf("round %d custom client: %v", i, err)
		}
		if path != "other,public" || cmm != "warning" || ds != "German, DMY" || app != "custom-app" || marker != "other schema" {
			t.Fatalf("round %d custom client sees search_path=%q client_min_messages=%q DateStyle=%q application_name=%q marker=%q", i, path, cmm, ds, app, marker)
		}
		row = plain.QueryRow(ctx, "SELECT current_setting('search_path'), current_setting('client_min_messages'), current_setting('DateStyle'), current_setting('application_name')")
		if err := row.Scan(&path, &cmm, &ds, &app); err != nil {
			t.Fatalf("round %d plain client: %v", i, err)
		}
		if path != `"$user", public` || cmm != "notice" || ds != "ISO, MDY" || app != "" {
			t.Fatalf("round %d plain client sees another client's settings: search_path=%q client_min_messages=%q DateStyle=%q application_name=%q", i, path, cmm, ds, app)
		}
	}
}

// TestSetReportedParameterCarries: a SET of a reported parameter (DateStyle) in transaction mode stays
// with its client on later transactions and does not leak to another client sharing the server.
func TestSetReportedParameterCarries(t *testing.T) {
	tp := startPooler(t, transactionPool(1))
	ctx := context.Background()
	a, b := tp.connect(t), tp.connect(t)
	mustExec(t, a, "SET DateStyle = 'SQL, DMY'")
	for range 3 {
		var da, db string
		if err := a.QueryRow(ctx, "SHOW DateStyle").Scan(&da); err != nil {
			t.Fatal(err)
		}
		if err := b.QueryRow(ctx, "SHOW DateStyle").Scan(&db); err != nil {
			t.Fatal(err)
		}
		if da != "SQL, DMY" || db != "ISO, MDY" {
			t.Fatalf("DateStyle: client a %q (want SQL, DMY), client b %q (want ISO, MDY)", da, db)
		}
	}
}

// TestInvalidStartupParameter: an unknown parameter fails the login with the server's own error, as on a
// direct connection.
func TestInvalidStartupParameter(t *testing.T) {
	tp := startPooler(t, transactionPool(2))
	_, err := pgx.Connect(context.Background(), tp.pgxURL(appDB)+"&no_such_setting=1")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42704" || !strings.Contains(pgErr.Message, "no_such_setting") {
		t.Fatalf("got %v, want SQLSTATE 42704 naming no_such_setting", err)
	}
	conn := tp.connect(t) // the pool is still fine
	mustExec(t, conn, "SELECT 1")
}

// TestStatementModeRejectsTransactions: in statement mode a transaction block gets a clear error, is
// rolled back, and the client can go on.
func TestStatementModeRejectsTransactions(t *testing.T) {
	tp := startPooler(t, withMode("statement"))
	ctx := context.Background()
	conn := tp.connect(t)
	mustExec(t, conn, "DROP TABLE IF EXISTS stmt_mode")
	mustExec(t, conn, "CREATE TABLE stmt_mode (id int)")
	_, err := conn.Exec(ctx, "BEGIN; INSERT INTO stmt_mode VALUES (1)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "0A000" || !strings.Contains(pgErr.Message, "statement pooling mode") {
		t.Fatalf("BEGIN in statement mode: got %v, want SQLSTATE 0A000 about statement pooling mode", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM stmt_mode").Scan(&n); err != nil || n != 0 {
		t.Fatalf("after rejected transaction: %d rows, %v; want 0 rows", n, err)
	}
}

// TestUnknownDatabase: a database that no [databases] entry routes gets 3D000.
func TestUnknownDatabase(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Databases = map[string]config.Database{appDB: {Host: pg.Host, Port: pg.Port, Password: appPassword}}
	})
	_, err := pgx.Connect(context.Background(), tp.pgxURL("nope"))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "3D000" {
		t.Fatalf("got %v, want SQLSTATE 3D000", err)
	}
}
