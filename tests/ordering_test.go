package tests

// Replies reach a client in the order of its requests, however far it writes ahead of its reading
// (issue 10, finding 1): clients write pairs of requests with a random gap of 0-500 µs between the two
// writes, before reading either answer, over a pool of 5; every message each client receives is checked
// against the exact sequence PostgreSQL would send, each answer naming its client and sequence number.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// orderKind is what one pair of requests is.
type orderKind int

const (
	orderSimple     orderKind = iota // two Query messages
	orderExtended                    // two Parse/Bind/Describe/Execute/Sync batches
	orderPipeline                    // pgconn pipeline mode: two queries, each with its Sync
	orderLocalParse                  // a Query, then Parse+Sync of a statement the pooler answers itself
	orderBegin                       // statement mode: BEGIN, then a SELECT
)

type orderVariant struct {
	name        string
	kind        orderKind
	mode        string
	maxPrepared int
	clients     int
	pairs       int // per client
}

// orderSQL is the extended-protocol query; its two parameters are the client's id and the sequence number.
const orderSQL = "SELECT $1::int, $2::int"

// orderMaxGap is the longest pause between a pair's two writes.
const orderMaxGap = 500 * time.Microsecond

// TestOrderingPipelinedReplies runs every variant: simple and extended protocol, pgconn's pipeline mode,
// Parse+Sync answered by the pooler itself, and BEGIN in statement mode; in transaction and statement
// mode, with and without statement tracking (max_prepared_statements 200 and 0), with 4, 10 or 50
// clients. About 22,000 pairs in all; with PGPOOLER_LONG=1 every variant runs with 4, 10 and 50 clients,
// 10,000 pairs each (390,000 pairs).
func TestOrderingPipelinedReplies(t *testing.T) {
	long := os.Getenv("PGPOOLER_LONG") == "1"
	tx, st := config.PoolModeTransaction, config.PoolModeStatement
	variants := []orderVariant{
		{"simple/transaction/prepared", orderSimple, tx, 200, 10, 150},
		{"simple/transaction/untracked", orderSimple, tx, 0, 50, 40},
		{"simple/statement/untracked", orderSimple, st, 0, 4, 300},
		{"extended/transaction/prepared", orderExtended, tx, 200, 50, 40},
		{"extended/transaction/untracked", orderExtended, tx, 0, 10, 200},
		{"extended/statement/prepared", orderExtended, st, 200, 10, 150},
		{"pipeline/transaction/prepared", orderPipeline, tx, 200, 10, 150},
		{"pipeline/transaction/untracked", orderPipeline, tx, 0, 4, 500},
		{"pipeline/statement/untracked", orderPipeline, st, 0, 50, 30},
		{"localparse/transaction", orderLocalParse, tx, 200, 50, 60},
		{"localparse/statement", orderLocalParse, st, 200, 10, 200},
		{"begin/statement/prepared", orderBegin, st, 200, 10, 100},
		{"begin/statement/untracked", orderBegin, st, 0, 50, 20},
	}
	if long {
		var all []orderVariant
		for _, v := range variants {
			for _, n := range []int{4, 10, 50} {
				lv := v
				lv.clients, lv.pairs = n, 10000/n
				lv.name = fmt.Sprintf("%s/%d", v.name, n)
				all = append(all, lv)
			}
		}
		variants = all
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { runOrdering(t, v) })
	}
}

// runOrdering runs one variant: v.clients clients, v.pairs pairs each, all at once.
func runOrdering(t *testing.T, v orderVariant) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = v.mode
		c.Pooler.DefaultPoolSize = 5
		c.Pooler.MaxPreparedStatements = v.maxPrepared
		c.Pooler.LogConnections, c.Pooler.LogDisconnections = false, false
	})
	start := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	errs := make(chan error, v.clients)
	for id := 1; id <= v.clients; id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := orderClient(tp, v, id, start); err != nil {
				failed.Add(1)
				errs <- err
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	close(errs)
	shown := 0
	for err := range errs {
		if shown < 5 {
			t.Error(err)
			shown++
		}
	}
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d clients saw an answer out of order or wrong (%d pairs each)", n, v.clients, v.pairs)
	}
	n := int(failed.Load())
	t.Logf("reliability: ordering %s: %d pairs checked message by message (%d clients x %d, gap 0-%s), pool_mode %s, pool 5, max_prepared_statements %d, in %s; clients out of order or failed %d",
		v.name, (v.clients-n)*v.pairs, v.clients, v.pairs, orderMaxGap, v.mode, v.maxPrepared, roundTime(took), n)
}

// orderClient logs in, waits for start, then writes and checks v.pairs pairs.
func orderClient(tp *testPooler, v orderVariant, id int, start <-chan struct{}) error {
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	gap := func() {
		if d := time.Duration(rng.Int64N(int64(orderMaxGap) + 1)); d > 0 {
			time.Sleep(d) // the workload's shape: the second write lags the first
		}
	}
	if v.kind == orderPipeline {
		return orderPipelineClient(tp, v, id, start, gap)
	}
	conn, err := net.DialTimeout("tcp", tp.addr(), 10*time.Second)
	if err != nil {
		return fmt.Errorf("client %d: %v", id, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": appUser, "database": appDB}})
	if err := fe.Flush(); err != nil {
		return fmt.Errorf("client %d: startup: %v", id, err)
	}
	for {
		msg, err := fe.Receive()
		if err != nil {
			return fmt.Errorf("client %d: login: %v", id, err)
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			return fmt.Errorf("client %d: login: %s %s", id, e.Code, e.Message)
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			break
		}
	}
	<-start
	var want []string
	for pair := 0; pair < v.pairs; pair++ {
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		seq := 2 * pair
		want = want[:0]
		want = orderSend(fe, v.kind, 0, id, seq, want)
		if err := fe.Flush(); err != nil {
			return fmt.Errorf("client %d pair %d: write: %v", id, pair, err)
		}
		gap()
		want = orderSend(fe, v.kind, 1, id, seq+1, want)
		if err := fe.Flush(); err != nil {
			return fmt.Errorf("client %d pair %d: write: %v", id, pair, err)
		}
		for i, w := range want {
			msg, err := fe.Receive()
			if err != nil {
				return fmt.Errorf("client %d pair %d: message %d: want %s, read failed: %v", id, pair, i, w, err)
			}
			if got := orderToken(msg); got != w {
				return fmt.Errorf("client %d pair %d: message %d is %s, want %s (whole pair: %s)", id, pair, i, got, w, strings.Join(want, " "))
			}
		}
	}
	fe.Send(&pgproto3.Terminate{})
	_ = fe.Flush()
	return nil
}

// orderSend queues the first (half 0) or second (half 1) request of a pair and appends the messages its
// answer must consist of to want.
func orderSend(fe *pgproto3.Frontend, kind orderKind, half, id, seq int, want []string) []string {
	row := fmt.Sprintf("DataRow(%d,%d)", id, seq)
	simple := func() {
		fe.Send(&pgproto3.Query{String: fmt.Sprintf("SELECT %d, %d", id, seq)})
		want = append(want, "RowDescription(2)", row, "CommandComplete(SELECT 1)", "ReadyForQuery(I)")
	}
	switch {
	case kind == orderSimple, kind == orderLocalParse && half == 0, kind == orderBegin && half == 1:
		simple()
	case kind == orderExtended:
		fe.Send(&pgproto3.Parse{Query: orderSQL})
		fe.Send(&pgproto3.Bind{Parameters: [][]byte{[]byte(strconv.Itoa(id)), []byte(strconv.Itoa(seq))}})
		fe.Send(&pgproto3.Describe{ObjectType: 'P'})
		fe.Send(&pgproto3.Execute{})
		fe.Send(&pgproto3.Sync{})
		want = append(want, "ParseComplete", "BindComplete", "RowDescription(2)", row, "CommandComplete(SELECT 1)", "ReadyForQuery(I)")
	case kind == orderLocalParse:
		// A new name for a text the pooler already knows to be valid: answered without a server
		// whenever the client holds none.
		fe.Send(&pgproto3.Parse{Name: fmt.Sprintf("order_%d", seq), Query: orderSQL})
		fe.Send(&pgproto3.Sync{})
		want = append(want, "ParseComplete", "ReadyForQuery(I)")
	case kind == orderBegin:
		fe.Send(&pgproto3.Query{String: "BEGIN"})
		want = append(want, "CommandComplete(BEGIN)", "ErrorResponse(0A000)", "ReadyForQuery(I)")
	}
	return want
}

// orderToken names a received message with what the check needs of it.
func orderToken(msg pgproto3.BackendMessage) string {
	switch m := msg.(type) {
	case *pgproto3.RowDescription:
		return fmt.Sprintf("RowDescription(%d)", len(m.Fields))
	case *pgproto3.DataRow:
		vals := make([]string, len(m.Values))
		for i, v := range m.Values {
			vals[i] = string(v)
		}
		return "DataRow(" + strings.Join(vals, ",") + ")"
	case *pgproto3.CommandComplete:
		return "CommandComplete(" + string(m.CommandTag) + ")"
	case *pgproto3.ReadyForQuery:
		return "ReadyForQuery(" + string(m.TxStatus) + ")"
	case *pgproto3.ErrorResponse:
		return "ErrorResponse(" + m.Code + ")"
	case *pgproto3.ParseComplete:
		return "ParseComplete"
	case *pgproto3.BindComplete:
		return "BindComplete"
	default:
		return fmt.Sprintf("%T", msg)
	}
}

// orderPipelineClient is orderClient through pgconn's pipeline mode: pgconn checks each message's
// type against what it awaits, and the test checks the rows.
func orderPipelineClient(tp *testPooler, v orderVariant, id int, start <-chan struct{}, gap func()) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	conn, err := pgconn.Connect(ctx, tp.url(appDB))
	cancel()
	if err != nil {
		return fmt.Errorf("client %d: connect: %v", id, err)
	}
	defer conn.Close(context.Background())
	<-start
	idText := []byte(strconv.Itoa(id))
	for pair := 0; pair < v.pairs; pair++ {
		err := func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			seq := 2 * pair
			p := conn.StartPipeline(ctx)
			defer p.Close()
			p.SendQueryParams(orderSQL, [][]byte{idText, []byte(strconv.Itoa(seq))}, nil, nil, nil)
			if err := p.Sync(); err != nil {
				return err
			}
			gap()
			p.SendQueryParams(orderSQL, [][]byte{idText, []byte(strconv.Itoa(seq + 1))}, nil, nil, nil)
			if err := p.Sync(); err != nil {
				return err
			}
			for q := seq; q <= seq+1; q++ {
				res, err := p.GetResults()
				if err != nil {
					return fmt.Errorf("query %d: %v", q, err)
				}
				rr, ok := res.(*pgconn.ResultReader)
				if !ok {
					return fmt.Errorf("query %d: got %T, want its rows", q, res)
				}
				r := rr.Read()
				if r.Err != nil {
					return fmt.Errorf("query %d: %v", q, r.Err)
				}
				if len(r.Rows) != 1 || len(r.Rows[0]) != 2 || string(r.Rows[0][0]) != string(idText) || string(r.Rows[0][1]) != strconv.Itoa(q) {
					return fmt.Errorf("query %d: rows %q, want [[%d %d]]", q, r.Rows, id, q)
				}
				if res, err = p.GetResults(); err != nil {
					return fmt.Errorf("sync of query %d: %v", q, err)
				} else if _, ok := res.(*pgconn.PipelineSync); !ok {
					return fmt.Errorf("sync of query %d: got %T, want its ReadyForQuery", q, res)
				}
			}
			return nil
		}()
		if err != nil {
			return fmt.Errorf("client %d pair %d: %v", id, pair, err)
		}
	}
	return nil
}

// TestOrderingStatementModeCopy: in statement mode, where a statement written behind the running one
// waits for that one's link to end, COPY data still reaches the running COPY, a statement written right
// behind CopyDone gets its own answer after the COPY's, and a Query written during COPY FROM STDIN goes
// to the server (which answers 08P01 and closes the connection, as on a direct one) instead of waiting
// for ever.
func TestOrderingStatementModeCopy(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeStatement
		c.Pooler.DefaultPoolSize = 5
	})
	conn, fe := rawLogin(t, tp.addr())
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	table := fmt.Sprintf("ordering_copy_%d", time.Now().UnixNano())
	orderExpect(t, fe, "create", "CREATE TABLE "+table+" (v int)", "CommandComplete(CREATE TABLE)", "ReadyForQuery(I)")
	t.Cleanup(func() {
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		orderExpect(t, fe, "drop", "DROP TABLE "+table, "CommandComplete(DROP TABLE)", "ReadyForQuery(I)")
	})

	// COPY data, CopyDone and the next statement in one write, once the server asked for the data.
	orderExpect(t, fe, "copy", "COPY "+table+" FROM STDIN", "*pgproto3.CopyInResponse")
	fe.Send(&pgproto3.CopyData{Data: []byte("7\n")})
	fe.Send(&pgproto3.CopyDone{})
	orderExpect(t, fe, "copy and the next statement", "SELECT 1, 2", "CommandComplete(COPY 1)", "ReadyForQuery(I)",
		"RowDescription(2)", "DataRow(1,2)", "CommandComplete(SELECT 1)", "ReadyForQuery(I)")
	orderExpect(t, fe, "after", "SELECT count(*), 0 FROM "+table+" WHERE v = 7", "RowDescription(2)", "DataRow(1,0)", "CommandComplete(SELECT 1)", "ReadyForQuery(I)")

	// A Query right behind COPY FROM STDIN (written before the CopyInResponse came, or after it).
	saw := sqlstates{}
	var slow slowest
	for _, early := range []bool{true, false} {
		began := time.Now()
		conn, fe := rawLogin(t, tp.addr())
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		if early {
			fe.Send(&pgproto3.Query{String: "COPY " + table + " FROM STDIN"})
		} else {
			orderExpect(t, fe, "copy", "COPY "+table+" FROM STDIN", "*pgproto3.CopyInResponse")
		}
		want := []string{"ErrorResponse(08P01)", "ErrorResponse(08P01)", "ErrorResponse(08006)"}
		if early {
			want = append([]string{"*pgproto3.CopyInResponse"}, want...)
		}
		orderExpect(t, fe, fmt.Sprintf("query during COPY (early %v)", early), "SELECT 3, 4", want...)
		if msg, err := fe.Receive(); err == nil {
			t.Fatalf("query during COPY (early %v): got %s, want the connection closed", early, orderToken(msg))
		}
		slow.add(time.Since(began))
		for _, w := range want {
			if code, ok := strings.CutPrefix(w, "ErrorResponse("); ok {
				saw[strings.TrimSuffix(code, ")")]++
			}
		}
	}
	t.Logf("reliability: ordering statement-mode COPY: COPY data and a statement right behind CopyDone answered in order; a Query during COPY FROM STDIN (written before and after CopyInResponse) got %s then a closed connection, slowest %s; hung 0",
		saw, slow)
}

// orderExpect sends query (after anything queued), flushes and checks the messages that follow.
func orderExpect(t *testing.T, fe *pgproto3.Frontend, what, query string, want ...string) {
	t.Helper()
	fe.Send(&pgproto3.Query{String: query})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("%s: message %d: want %s, read failed: %v", what, i, w, err)
		}
		if got := orderToken(msg); got != w {
			t.Fatalf("%s: message %d is %s, want %s (all: %s)", what, i, got, w, strings.Join(want, " "))
		}
	}
}
