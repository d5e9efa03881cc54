// Command loadclient is the client side of pgpooler's load test (tests/load_test.go), run as its own
// process so that its sockets do not count against the file limit of the process under test. It opens
// -clients protocol-3 connections to -addr as -user (trust authentication), at most -connecting at a
// time, and prints "connected N" when all have logged in (or failed to). Then every client runs short
// transactions for -duration, each two round trips:
//
//	BEGIN; SELECT <client number>   → BEGIN, one row with the client's own number, SELECT 1, ReadyForQuery 'T'
//	COMMIT                          → COMMIT, ReadyForQuery 'I'
//
// An answer other than that is wrong (another client's row, say). A client that gets an error closes its
// connection and logs in again. Every read and write has a deadline of -op-timeout; an operation that
// takes longer than -op-timeout plus -margin is hung. At the end each client sends Terminate and waits
// for the pooler to close first (so that TIME_WAIT stays on the pooler's side and a rerun finds free
// ports), and one JSON line of counts (result) is printed.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// result is what loadclient prints, as JSON, when it is done.
type result struct {
	Clients       int            `json:"clients"`
	Connected     int            `json:"connected"`      // clients logged in at the start
	ConnectErrors map[string]int `json:"connect_errors"` // failed logins at the start, by SQLSTATE
	Attempted     int64          `json:"attempted"`      // transactions begun
	OK            int64          `json:"ok"`
	Errors        map[string]int `json:"errors"`  // failed transactions, by SQLSTATE
	Relogin       map[string]int `json:"relogin"` // failed logins of clients reconnecting after an error
	Hung          int64          `json:"hung"`    // operations slower than op-timeout plus margin
	Stuck         int64          `json:"stuck"`   // clients that had not finished margin after the last deadline
	Wrong         int64          `json:"wrong"`   // answers other than the ones asked for
	SlowestMS     int64          `json:"slowest_ms"`
	RunSeconds    float64        `json:"run_seconds"`
	ConnectSecs   float64        `json:"connect_seconds"`
	Samples       []string       `json:"samples,omitempty"` // the first few errors without a SQLSTATE
}

// Error classes for errors that are not an ErrorResponse.
const (
	classDeadline = "client_deadline" // the client's own deadline ran out
	classNoState  = "no_sqlstate"     // the connection failed without an ErrorResponse
)

type tally struct {
	mu      sync.Mutex
	errs    map[string]int
	samples []string
}

func (t *tally) add(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	class := classify(err)
	t.errs[class]++
	if class == classNoState && len(t.samples) < 5 {
		t.samples = append(t.samples, err.Error())
	}
}

// pgError is an ErrorResponse.
type pgError struct{ severity, code, message string }

func (e *pgError) Error() string { return e.severity + " " + e.code + ": " + e.message }

func classify(err error) string {
	var pe *pgError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		return pe.code
	case errors.As(err, &ne) && ne.Timeout():
		return classDeadline
	default:
		return classNoState
	}
}

// client is one connection with a small read buffer.
type client struct {
	n    int
	conn net.Conn
	rd   *bufio.Reader
	body []byte
}

// op bounds one exchange by opTimeout and counts it as hung when it took longer than opTimeout+margin.
type opts struct {
	addr, user, db    string
	opTimeout, margin time.Duration
	connecting        chan struct{}
	hung, slowest     atomic.Int64
}

func (o *opts) timed(c *client, f func() error) error {
	start := time.Now()
	if c.conn != nil {
		_ = c.conn.SetDeadline(start.Add(o.opTimeout))
	}
	err := f()
	d := time.Since(start)
	if d > o.opTimeout+o.margin {
		o.hung.Add(1)
	}
	for {
		cur := o.slowest.Load()
		if int64(d) <= cur || o.slowest.CompareAndSwap(cur, int64(d)) {
			break
		}
	}
	return err
}

// readMsg reads one message into c.body (reused) and returns its type.
func (c *client) readMsg() (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(c.rd, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
	if n < 0 || n > 1<<20 {
		return 0, nil, fmt.Errorf("message %q of length %d", hdr[0], n)
	}
	if cap(c.body) < n {
		c.body = make([]byte, n)
	}
	c.body = c.body[:n]
	if _, err := io.ReadFull(c.rd, c.body); err != nil {
		return 0, nil, err
	}
	return hdr[0], c.body, nil
}

func decodeError(body []byte) *pgError {
	var e pgproto3.ErrorResponse
	if err := e.Decode(body); err != nil {
		return &pgError{severity: "FATAL", code: "XX000", message: "undecodable ErrorResponse"}
	}
	return &pgError{severity: e.Severity, code: e.Code, message: e.Message}
}

func (o *opts) connect(c *client) error {
	o.connecting <- struct{}{}
	defer func() { <-o.connecting }()
	return o.timed(c, func() error {
		conn, err := net.DialTimeout("tcp", o.addr, o.opTimeout)
		if err != nil {
			return err
		}
		_ = conn.SetDeadline(time.Now().Add(o.opTimeout))
		c.conn, c.rd = conn, bufio.NewReaderSize(conn, 512)
		msg := pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
			Parameters: map[string]string{"user": o.user, "database": o.db}}
		buf, err := msg.Encode(nil)
		if err != nil {
			return err
		}
		if _, err := conn.Write(buf); err != nil {
			return err
		}
		for {
			typ, body, err := c.readMsg()
			if err != nil {
				return err
			}
			switch typ {
			case 'R':
				if len(body) < 4 || binary.BigEndian.Uint32(body) != 0 {
					return errors.New("the pooler asked for a password: loadclient needs auth_type trust")
				}
			case 'E':
				return decodeError(body)
			case 'Z':
				return nil
			}
		}
	})
}

// exchange sends q and reads up to ReadyForQuery, checking the answer: the command tags in order, and
// the single row's value when row is not "".
func (o *opts) exchange(c *client, q []byte, tags []string, row string, status byte) (wrong bool, err error) {
	err = o.timed(c, func() error {
		if _, err := c.conn.Write(q); err != nil {
			return err
		}
		var pe *pgError
		i, rows := 0, 0
		for {
			typ, body, err := c.readMsg()
			if err != nil {
				return err
			}
			switch typ {
			case 'C':
				if i >= len(tags) || string(body[:max(len(body)-1, 0)]) != tags[i] {
					wrong = true
				}
				i++
			case 'D':
				rows++
				// one column: int16 count, int32 length, value
				if len(body) < 6 || string(body[6:]) != row {
					wrong = true
				}
			case 'E':
				if pe == nil {
					pe = decodeError(body)
				}
			case 'Z':
				if pe != nil {
					return pe
				}
				if i != len(tags) || (row != "" && rows != 1) || len(body) != 1 || body[0] != status {
					wrong = true
				}
				return nil
			}
		}
	})
	return wrong, err
}

func query(sql string) []byte {
	b, _ := (&pgproto3.Query{String: sql}).Encode(nil)
	return b
}

var commit = query("COMMIT")

// close sends Terminate and waits (bounded) for the pooler to close the connection first.
func (c *client) close() {
	if c.conn == nil {
		return
	}
	_ = c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write([]byte{'X', 0, 0, 0, 4}); err == nil {
		_, _ = io.Copy(io.Discard, c.rd)
	}
	_ = c.conn.Close()
	c.conn = nil
}

func main() {
	o := &opts{}
	clients := flag.Int("clients", 10000, "number of client connections")
	connecting := flag.Int("connecting", 64, "logins in progress at a time")
	duration := flag.Duration("duration", 20*time.Second, "how long the clients run transactions")
	flag.StringVar(&o.addr, "addr", "", "the pooler's host:port")
	flag.StringVar(&o.user, "user", "app", "user name")
	flag.StringVar(&o.db, "db", "app", "database name")
	flag.DurationVar(&o.opTimeout, "op-timeout", 45*time.Second, "deadline of one operation")
	flag.DurationVar(&o.margin, "margin", 5*time.Second, "how much later than its deadline an operation counts as hung")
	flag.Parse()
	o.connecting = make(chan struct{}, *connecting)

	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}

	res := result{Clients: *clients, ConnectErrors: map[string]int{}}
	conns := make([]*client, *clients)
	loginErrs := &tally{errs: map[string]int{}}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range conns {
		c := &client{n: i + 1}
		conns[i] = c
		wg.Go(func() {
			if err := o.connect(c); err != nil {
				loginErrs.add(err)
				if c.conn != nil {
					_ = c.conn.Close()
					c.conn = nil
				}
			}
		})
	}
	wg.Wait()
	res.ConnectSecs = time.Since(start).Seconds()
	res.ConnectErrors = loginErrs.errs
	for _, c := range conns {
		if c.conn != nil {
			res.Connected++
		}
	}
	fmt.Printf("connected %d\n", res.Connected)

	errs := &tally{errs: map[string]int{}}
	relogin := &tally{errs: map[string]int{}}
	var attempted, ok, wrong atomic.Int64
	end := time.Now().Add(*duration)
	start = time.Now()
	var left atomic.Int64
	done := make(chan struct{})
	left.Store(int64(len(conns)))
	for _, c := range conns {
		go func() {
			defer func() {
				c.close()
				if left.Add(-1) == 0 {
					close(done)
				}
			}()
			begin := query("BEGIN; SELECT " + strconv.Itoa(c.n))
			row := strconv.Itoa(c.n)
			for time.Now().Before(end) {
				if c.conn == nil {
					if err := o.connect(c); err != nil {
						relogin.add(err)
						if c.conn != nil {
							_ = c.conn.Close()
							c.conn = nil
						}
						continue
					}
				}
				attempted.Add(1)
				bad, err := o.exchange(c, begin, []string{"BEGIN", "SELECT 1"}, row, 'T')
				if err == nil {
					var bad2 bool
					bad2, err = o.exchange(c, commit, []string{"COMMIT"}, "", 'I')
					bad = bad || bad2
				}
				if bad {
					wrong.Add(1)
				}
				if err != nil {
					errs.add(err)
					_ = c.conn.Close()
					c.conn = nil
					continue
				}
				ok.Add(1)
			}
		}()
	}
	select {
	case <-done:
	case <-time.After(time.Until(end) + 2*o.opTimeout + o.margin + 10*time.Second):
		res.Stuck = left.Load()
	}
	res.RunSeconds = time.Since(start).Seconds()
	errs.mu.Lock()
	res.Errors, res.Samples = maps.Clone(errs.errs), append(loginErrs.samples, errs.samples...)
	errs.mu.Unlock()
	relogin.mu.Lock()
	res.Relogin = maps.Clone(relogin.errs)
	res.Samples = append(res.Samples, relogin.samples...)
	relogin.mu.Unlock()
	res.Attempted, res.OK, res.Wrong = attempted.Load(), ok.Load(), wrong.Load()
	res.Hung, res.SlowestMS = o.hung.Load(), time.Duration(o.slowest.Load()).Milliseconds()
	out, _ := json.Marshal(res)
	fmt.Printf("result %s\n", out)
}
