package pooler

import (
	"testing"
)

// paramStatus is a ParameterStatus body: name and value, each NUL-terminated.
func paramStatus(name, value string) []byte { return []byte(name + "\x00" + value + "\x00") }

// TestClientSyncSQLRemembersSharedMap: a shared client parameter map found in sync with a server is
// remembered, so the next lending compares nothing; a ParameterStatus with a new value, a reset and an
// own (writable) map each make it compare again, and the SQL it then returns is the right one.
func TestClientSyncSQLRemembersSharedMap(t *testing.T) {
	shared := map[string]string{"datestyle": "ISO, MDY", "application_name": "app"}
	sc := &serverConn{params: map[string]string{}, reported: map[string]bool{}}
	for name, v := range shared {
		sc.noteParameterStatus(paramStatus(name, v))
	}
	c := &clientConn{params: shared}
	if sql, _ := c.clientSyncSQLLocked(sc); sql != "" || sc.inSyncWith == nil {
		t.Fatalf("in sync: SQL %q, remembered %v; want none and remembered", sql, sc.inSyncWith != nil)
	}
	// Remembered: sc.params is not even read (a change behind the tracker's back would go unseen).
	sc.params["datestyle"] = "German"
	if sql, _ := c.clientSyncSQLLocked(sc); sql != "" {
		t.Fatalf("remembered map: SQL %q, want none without a comparison", sql)
	}
	sc.params["datestyle"] = "ISO, MDY"
	sc.noteParameterStatus(paramStatus("DateStyle", "SQL, DMY"))
	if sc.inSyncWith != nil {
		t.Fatal("a ParameterStatus with a new value left the map remembered")
	}
	sql, apply := c.clientSyncSQLLocked(sc)
	if sql != "SELECT pg_catalog.set_config(E'datestyle', E'ISO, MDY', false)" {
		t.Fatalf("after the server's DateStyle changed: SQL %q", sql)
	}
	apply()
	sc.noteParameterStatus(paramStatus("DateStyle", "ISO, MDY")) // what the server reports after it
	if sql, _ := c.clientSyncSQLLocked(sc); sql != "" || sc.inSyncWith == nil {
		t.Fatalf("after the sync: SQL %q, remembered %v", sql, sc.inSyncWith != nil)
	}
	sc.params["work_mem"] = "1MB" // set on it by an earlier client, not reported
	forgetSetParams(sc)
	if sc.inSyncWith != nil || sc.params["work_mem"] != "" {
		t.Fatal("a reset left the map remembered, or work_mem recorded")
	}
	own := &clientConn{params: map[string]string{"datestyle": "ISO, MDY", "application_name": "app"}, ownParams: true}
	if sql, _ := own.clientSyncSQLLocked(sc); sql != "" || sc.inSyncWith != nil {
		t.Fatalf("own map: SQL %q, remembered %v; want none, not remembered (it may be written)", sql, sc.inSyncWith != nil)
	}
	own.params["datestyle"] = "Postgres"
	if sql, _ := own.clientSyncSQLLocked(sc); sql == "" {
		t.Fatal("own map changed in place: no SQL")
	}
}
