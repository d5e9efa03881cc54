package admin

import (
	"bytes"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestAdminTableEncoding: RowDescription carries PgBouncer's type OIDs and sizes; values are text, NULL
// for nil and zero times.
func TestAdminTableEncoding(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.Local)
	tb := newTable([]column{colText("s"), colInt4("i"), colInt8("q"), colNumeric("n"), colTime("t"), colTime("z"), colInt4("b"), colText("null")})
	tb.add("x", 42, int64(1)<<40, uint64(7), at, time.Time{}, true, nil)
	fe := pgproto3.NewFrontend(bytes.NewReader(tb.appendTo(nil)), io.Discard)
	m, err := fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	var oids []uint32
	var sizes []int16
	for _, f := range m.(*pgproto3.RowDescription).Fields {
		oids = append(oids, f.DataTypeOID)
		sizes = append(sizes, f.DataTypeSize)
		if f.TypeModifier != -1 || f.Format != 0 {
			t.Errorf("%s: typmod %d format %d", f.Name, f.TypeModifier, f.Format)
		}
	}
	if want := []uint32{25, 23, 20, 1700, 25, 25, 23, 25}; !reflect.DeepEqual(oids, want) {
		t.Errorf("OIDs %v, want %v", oids, want)
	}
	if want := []int16{-1, 4, 8, -1, -1, -1, 4, -1}; !reflect.DeepEqual(sizes, want) {
		t.Errorf("sizes %v, want %v", sizes, want)
	}
	m, err = fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range m.(*pgproto3.DataRow).Values {
		if v == nil {
			got = append(got, "NULL")
		} else {
			got = append(got, string(v))
		}
	}
	want := []string{"x", "42", "1099511627776", "7", at.Format("2006-01-02 15:04:05 MST"), "NULL", "1", "NULL"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("row %q, want %q", got, want)
	}
}
