package pooler

import (
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// adminType is the type of an admin console result column. PgBouncer's console sends text, int4, int8
// and numeric columns, and timestamps as text (src/pktbuf.c, pktbuf_write_RowDescription); the
// RowDescription carries the same type OIDs and sizes here.
type adminType uint8

const (
	adminText    adminType = iota // text, OID 25
	adminInt4                     // int4, OID 23
	adminInt8                     // int8, OID 20
	adminNumeric                  // numeric, OID 1700: PgBouncer's 64-bit counters
	adminTime                     // a timestamp written as text ("2006-01-02 15:04:05 MST"), OID 25
)

// PostgreSQL type OIDs (pg_type.dat).
const (
	oidText    = 25
	oidInt4    = 23
	oidInt8    = 20
	oidNumeric = 1700
)

// oid returns the column's type OID and its typlen as RowDescription reports them.
func (t adminType) oid() (uint32, int16) {
	switch t {
	case adminInt4:
		return oidInt4, 4
	case adminInt8:
		return oidInt8, 8
	case adminNumeric:
		return oidNumeric, -1
	}
	return oidText, -1
}

// adminCol is one column of a console result.
type adminCol struct {
	name string
	typ  adminType
}

func colText(name string) adminCol    { return adminCol{name, adminText} }
func colInt4(name string) adminCol    { return adminCol{name, adminInt4} }
func colInt8(name string) adminCol    { return adminCol{name, adminInt8} }
func colNumeric(name string) adminCol { return adminCol{name, adminNumeric} }
func colTime(name string) adminCol    { return adminCol{name, adminTime} }

// adminTable is a console result set: its columns and rows of values. A value is nil (NULL), a string,
// an integer, a bool (1 or 0, as PgBouncer's flags) or a time.Time (a zero time is NULL).
type adminTable struct {
	cols []adminCol
	rows [][]any
}

func newTable(cols []adminCol) *adminTable { return &adminTable{cols: cols} }

// add appends a row; it must have one value per column.
func (t *adminTable) add(vals ...any) {
	if len(vals) != len(t.cols) {
		panic(fmt.Sprintf("admin console: row of %d values for %d columns (%s...)", len(vals), len(t.cols), t.cols[0].name))
	}
	t.rows = append(t.rows, vals)
}

// appendTo appends the table's RowDescription and DataRows to buf.
func (t *adminTable) appendTo(buf []byte) []byte {
	rd := pgproto3.RowDescription{Fields: make([]pgproto3.FieldDescription, len(t.cols))}
	for i, c := range t.cols {
		oid, size := c.typ.oid()
		rd.Fields[i] = pgproto3.FieldDescription{Name: []byte(c.name), DataTypeOID: oid, DataTypeSize: size, TypeModifier: -1}
	}
	buf, _ = rd.Encode(buf)
	values := make([][]byte, len(t.cols))
	for _, row := range t.rows {
		for i, v := range row {
			values[i] = formatAdminValue(v)
		}
		buf, _ = (&pgproto3.DataRow{Values: values}).Encode(buf)
	}
	return buf
}

// adminTimeLayout is how PgBouncer writes times (lib/usual/time.c, format_time_s): local time with the
// zone's abbreviation.
const adminTimeLayout = "2006-01-02 15:04:05 MST"

// formatAdminValue writes one value in the text format; nil is NULL.
func formatAdminValue(v any) []byte {
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
		return []byte(x.Local().Format(adminTimeLayout))
	}
	return fmt.Append(nil, v)
}
