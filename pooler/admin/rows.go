package admin

import (
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// colType is the type of an admin console result column. PgBouncer's console sends text, int4, int8
// and numeric columns, and timestamps as text (src/pktbuf.c, pktbuf_write_RowDescription); the
// RowDescription carries the same type OIDs and sizes here.
type colType uint8

const (
	typText    colType = iota // text, OID 25
	typInt4                   // int4, OID 23
	typInt8                   // int8, OID 20
	typNumeric                // numeric, OID 1700: PgBouncer's 64-bit counters
	typTime                   // a timestamp written as text ("2006-01-02 15:04:05 MST"), OID 25
)

// PostgreSQL type OIDs (pg_type.dat).
const (
	oidText    = 25
	oidInt4    = 23
	oidInt8    = 20
	oidNumeric = 1700
)

// oid returns the column's type OID and its typlen as RowDescription reports them.
func (t colType) oid() (uint32, int16) {
	switch t {
	case typInt4:
		return oidInt4, 4
	case typInt8:
		return oidInt8, 8
	case typNumeric:
		return oidNumeric, -1
	}
	return oidText, -1
}

// column is one column of a console result.
type column struct {
	name string
	typ  colType
}

func colText(name string) column    { return column{name, typText} }
func colInt4(name string) column    { return column{name, typInt4} }
func colInt8(name string) column    { return column{name, typInt8} }
func colNumeric(name string) column { return column{name, typNumeric} }
func colTime(name string) column    { return column{name, typTime} }

// table is a console result set: its columns and rows of values. A value is nil (NULL), a string,
// an integer, a bool (1 or 0, as PgBouncer's flags) or a time.Time (a zero time is NULL).
type table struct {
	cols []column
	rows [][]any
}

func newTable(cols []column) *table { return &table{cols: cols} }

// add appends a row; it must have one value per column.
func (t *table) add(vals ...any) {
	if len(vals) != len(t.cols) {
		panic(fmt.Sprintf("admin console: row of %d values for %d columns (%s...)", len(vals), len(t.cols), t.cols[0].name))
	}
	t.rows = append(t.rows, vals)
}

// appendTo appends the table's RowDescription and DataRows to buf.
func (t *table) appendTo(buf []byte) []byte {
	rd := pgproto3.RowDescription{Fields: make([]pgproto3.FieldDescription, len(t.cols))}
	for i, c := range t.cols {
		oid, size := c.typ.oid()
		rd.Fields[i] = pgproto3.FieldDescription{Name: []byte(c.name), DataTypeOID: oid, DataTypeSize: size, TypeModifier: -1}
	}
	buf, _ = rd.Encode(buf)
	values := make([][]byte, len(t.cols))
	for _, row := range t.rows {
		for i, v := range row {
			values[i] = formatValue(v)
		}
		buf, _ = (&pgproto3.DataRow{Values: values}).Encode(buf)
	}
	return buf
}

// timeLayout is how PgBouncer writes times (lib/usual/time.c, format_time_s): local time with the
// zone's abbreviation.
const timeLayout = "2006-01-02 15:04:05 MST"

// formatValue writes one value in the text format; nil is NULL.
func formatValue(v any) []byte {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []byte(x)
	case int:
		return strconv.AppendInt(nil, int64(x), 10)
	case int64:
		return strconv.AppendInt(nil, x, 10)
	case uint32:
		return strconv.AppendUint(nil, uint64(x), 10)
	case uint64:
		return strconv.AppendUint(nil, x, 10)
	case bool:
		if x {
			return []byte("1")
		}
		return []byte("0")
	case time.Time:
		if x.IsZero() {
			return nil
		}
		return []byte(x.Local().Format(timeLayout))
	}
	return fmt.Append(nil, v)
}
