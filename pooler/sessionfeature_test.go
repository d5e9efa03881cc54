package pooler

import (
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
)

func TestFindSessionFeature(t *testing.T) {
	for _, tt := range []struct {
		sql  string
		want sessionFeature
	}{
		{"LISTEN jobs", featureListen},
		{"  listen \"Jobs\";", featureListen},
		{"SELECT 1; LISTEN x", featureListen},
		{"UNLISTEN x", featureNone},
		{"NOTIFY x, 'listen'", featureNone},
		{"SELECT pg_advisory_lock(42)", featureAdvisoryLock},
		{"select PG_TRY_ADVISORY_LOCK(1, 2)", featureAdvisoryLock},
		{"SELECT pg_catalog.pg_advisory_lock_shared($1)", featureAdvisoryLock},
		{"SELECT pg_try_advisory_lock_shared(7)", featureAdvisoryLock},
		{"SELECT pg_advisory_xact_lock(42)", featureNone},
		{"SELECT pg_try_advisory_xact_lock(42)", featureNone},
		{"SELECT pg_advisory_unlock(42)", featureNone},
		{"SELECT 'pg_advisory_lock(1)'", featureNone},
		{"/* pg_advisory_lock(1) */ SELECT 1", featureNone},
		{"CREATE TEMP TABLE t (id int)", featureTempTable},
		{"create temporary table if not exists t (id int) on commit delete rows", featureTempTable},
		{"CREATE GLOBAL TEMPORARY TABLE t (id int)", featureTempTable},
		{"CREATE TEMP TABLE t (id int) ON COMMIT DROP", featureNone},
		{"CREATE TEMP TABLE t ON COMMIT DROP AS SELECT 1", featureNone},
		{"CREATE TEMP TABLE t AS SELECT 1", featureTempTable},
		{"CREATE OR REPLACE TEMP VIEW v AS SELECT 1", featureTempTable},
		{"CREATE TEMP SEQUENCE s", featureTempTable},
		{"CREATE TABLE temp (id int)", featureNone},
		{"INSERT INTO temp VALUES (1)", featureNone},
		{"SELECT * INTO TEMP TABLE t FROM x", featureTempTable},
		{"SELECT 1 AS a INTO TEMPORARY t", featureTempTable},
		{"SELECT * INTO t FROM temp", featureNone},
		{"DECLARE c CURSOR WITH HOLD FOR SELECT 1", featureHoldCursor},
		{"declare c no scroll cursor with hold for select 1", featureHoldCursor},
		{"DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1", featureNone},
		{"DECLARE c CURSOR FOR SELECT 'with hold'", featureNone},
		{"BEGIN; DECLARE c CURSOR FOR SELECT hold FROM t WITH hold; COMMIT", featureNone},
		{"CREATE FUNCTION f() RETURNS void AS $$ LISTEN x $$ LANGUAGE sql", featureNone},
		{"LOAD 'auto_explain'", featureLoad},
		{"SELECT 'load'", featureNone},
		{"SELECT 1", featureNone},
		{"", featureNone},
	} {
		if got := findSessionFeature(tt.sql); got != tt.want {
			t.Errorf("findSessionFeature(%q) = %d, want %d", tt.sql, got, tt.want)
		}
		if tt.want != featureNone && !mayUseSessionFeature([]byte(tt.sql)) {
			t.Errorf("mayUseSessionFeature(%q) = false for a statement that uses a session feature", tt.sql)
		}
	}
	if mayUseSessionFeature([]byte("SELECT id, name FROM users WHERE id = $1")) {
		t.Error("mayUseSessionFeature matches a plain SELECT")
	}
}

// TestRejectedError checks the rewriting of the server's error for each sentinel, and that other errors
// pass unchanged.
func TestRejectedError(t *testing.T) {
	c := &clientConn{mode: modeTransaction}
	serverErr := func(code, msg string) []byte {
		return pgwire.NewError(code, "%s", msg).AppendTo(nil)
	}
	for f := featureListen; f < featureCount; f++ {
		in := serverErr(pgerrcode.SyntaxError, `syntax error at or near "`+string(rejectQuery(f)[pgwire.HeaderSize:len(rejectQuery(f))-1])+`"`)
		var er pgproto3.ErrorResponse
		if err := er.Decode(c.rejectedError(in)[pgwire.HeaderSize:]); err != nil {
			t.Fatal(err)
		}
		if er.Code != pgerrcode.FeatureNotSupported || er.Message != featureStatement[f]+" is not supported in transaction pooling mode" || er.Hint != featureHint[f] {
			t.Errorf("feature %d: got %s %q hint %q", f, er.Code, er.Message, er.Hint)
		}
	}
	for _, in := range [][]byte{
		serverErr(pgerrcode.SyntaxError, `syntax error at or near "pgpooler_session_feature_99"`),
		serverErr(pgerrcode.UndefinedTable, `relation "pgpooler_session_feature_1" does not exist`),
		serverErr(pgerrcode.DivisionByZero, "division by zero"),
	} {
		if out := c.rejectedError(in); string(out) != string(in) {
			t.Errorf("rejectedError rewrote %q", in)
		}
	}
}
