package session

import (
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
)

func TestFindSessionFeature(t *testing.T) {
	for _, tt := range []struct {
		sql  string
		want Feature
	}{
		{"LISTEN jobs", FeatureListen},
		{"  listen \"Jobs\";", FeatureListen},
		{"SELECT 1; LISTEN x", FeatureListen},
		{"UNLISTEN x", FeatureNone},
		{"NOTIFY x, 'listen'", FeatureNone},
		{"SELECT pg_advisory_lock(42)", FeatureAdvisoryLock},
		{"select PG_TRY_ADVISORY_LOCK(1, 2)", FeatureAdvisoryLock},
		{"SELECT pg_catalog.pg_advisory_lock_shared($1)", FeatureAdvisoryLock},
		{"SELECT pg_try_advisory_lock_shared(7)", FeatureAdvisoryLock},
		{"SELECT pg_advisory_xact_lock(42)", FeatureNone},
		{"SELECT pg_try_advisory_xact_lock(42)", FeatureNone},
		{"SELECT pg_advisory_unlock(42)", FeatureNone},
		{"SELECT 'pg_advisory_lock(1)'", FeatureNone},
		{"/* pg_advisory_lock(1) */ SELECT 1", FeatureNone},
		{"CREATE TEMP TABLE t (id int)", FeatureTempTable},
		{"create temporary table if not exists t (id int) on commit delete rows", FeatureTempTable},
		{"CREATE GLOBAL TEMPORARY TABLE t (id int)", FeatureTempTable},
		{"CREATE TEMP TABLE t (id int) ON COMMIT DROP", FeatureNone},
		{"CREATE TEMP TABLE t ON COMMIT DROP AS SELECT 1", FeatureNone},
		{"CREATE TEMP TABLE t AS SELECT 1", FeatureTempTable},
		{"CREATE OR REPLACE TEMP VIEW v AS SELECT 1", FeatureTempTable},
		{"CREATE TEMP SEQUENCE s", FeatureTempTable},
		{"CREATE TABLE temp (id int)", FeatureNone},
		{"INSERT INTO temp VALUES (1)", FeatureNone},
		{"SELECT * INTO TEMP TABLE t FROM x", FeatureTempTable},
		{"SELECT 1 AS a INTO TEMPORARY t", FeatureTempTable},
		{"SELECT * INTO t FROM temp", FeatureNone},
		{"DECLARE c CURSOR WITH HOLD FOR SELECT 1", FeatureHoldCursor},
		{"declare c no scroll cursor with hold for select 1", FeatureHoldCursor},
		{"DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1", FeatureNone},
		{"DECLARE c CURSOR FOR SELECT 'with hold'", FeatureNone},
		{"BEGIN; DECLARE c CURSOR FOR SELECT hold FROM t WITH hold; COMMIT", FeatureNone},
		{"CREATE FUNCTION f() RETURNS void AS $$ LISTEN x $$ LANGUAGE sql", FeatureNone},
		{"LOAD 'auto_explain'", FeatureLoad},
		{"SELECT 'load'", FeatureNone},
		{"SELECT 1", FeatureNone},
		{"", FeatureNone},
	} {
		if got := FindFeature(tt.sql); got != tt.want {
			t.Errorf("FindFeature(%q) = %d, want %d", tt.sql, got, tt.want)
		}
		if tt.want != FeatureNone && !MayUseFeature([]byte(tt.sql)) {
			t.Errorf("MayUseFeature(%q) = false for a statement that uses a session feature", tt.sql)
		}
	}
	if MayUseFeature([]byte("SELECT id, name FROM users WHERE id = $1")) {
		t.Error("MayUseFeature matches a plain SELECT")
	}
}

// TestRejectedError checks the rewriting of the server's error for each sentinel, and that other errors
// pass unchanged.
func TestRejectedError(t *testing.T) {
	serverErr := func(code, msg string) []byte {
		return pgwire.NewError(code, "%s", msg).AppendTo(nil)
	}
	for f := FeatureListen; f < featureCount; f++ {
		in := serverErr(pgerrcode.SyntaxError, `syntax error at or near "`+string(RejectQuery(f)[pgwire.HeaderSize:len(RejectQuery(f))-1])+`"`)
		var er pgproto3.ErrorResponse
		if err := er.Decode(RejectedError(in, "transaction")[pgwire.HeaderSize:]); err != nil {
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
		if out := RejectedError(in, "transaction"); string(out) != string(in) {
			t.Errorf("RejectedError rewrote %q", in)
		}
	}
}
