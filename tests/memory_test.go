package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// heapInuse returns the bytes in in-use spans of this process's heap, the pooler's included (it runs in
// the test process), after a garbage collection when gc is set.
func heapInuse(gc bool) uint64 {
	if gc {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// unreadByPooler returns how many bytes the pooler's end of the TCP connection c has received and not
// yet read (rx_queue in /proc/net/tcp): zero once the pooler has taken everything c sent.
func unreadByPooler(t *testing.T, tp *testPooler, c net.Conn) int {
	t.Helper()
	client := c.LocalAddr().(*net.TCPAddr).Port
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp to watch the pooler's reads: %v", err)
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X", tp.port)
	peer := fmt.Sprintf(":%04X", client)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || !strings.HasSuffix(fields[1], want) || !strings.HasSuffix(fields[2], peer) {
			continue
		}
		_, rx, _ := strings.Cut(fields[4], ":")
		n, err := strconv.ParseUint(rx, 16, 64)
		if err != nil {
			t.Fatalf("/proc/net/tcp line %q: %v", sc.Text(), err)
		}
		return int(n)
	}
	t.Fatalf("the pooler's end of the connection from port %d is not in /proc/net/tcp", client)
	return 0
}

// TestLyingLengthMemory: a logged-in client's message header that declares a huge length costs the
// pooler next to nothing (issue 10, finding 5). Sync, Describe and Close longer than 10,000 bytes
// (PostgreSQL's PQ_SMALL_MESSAGE_LIMIT) are refused at once with FATAL 08P01; a Parse, Bind or Query
// declaring 1 GB and followed by 2 KiB leaves 20 such connections waiting for the rest while the pooler's
// heap grows by under 64 MiB, and the heap comes back once they close. With max_prepared_statements on
// and off (the pooler reads named Parses, Binds whose names it cannot see in their first KiB, Describes,
// Closes and Syncs whole when it tracks prepared statements), with the default max_packet_size (2^31-1).
func TestLyingLengthMemory(t *testing.T) {
	const clients = 20
	const declared = 1<<30 - 64 // within PostgreSQL's 1 GB limit for these types
	for _, prep := range []int{0, 100} {
		t.Run(fmt.Sprintf("max_prepared_statements=%d", prep), func(t *testing.T) {
			tp := startPooler(t, func(c *config.Config) {
				c.Pooler.PoolMode = config.PoolModeTransaction
				c.Pooler.DefaultPoolSize = clients
				c.Pooler.MaxPreparedStatements = prep
			})
			bystander := tp.connect(t)
			refused := sqlstates{}
			var slow slowest
			for _, typ := range []byte{'S', 'D', 'C'} {
				for _, n := range []uint32{10001, 1 << 30} {
					t.Run(fmt.Sprintf("%c length %d", typ, n), func(t *testing.T) {
						c := loginRaw(t, tp)
						began := time.Now()
						send(c, header5(typ, n), false) // the header alone: refused before any body
						wantViolation(t, c, "08P01")
						slow.add(time.Since(began))
						refused["08P01"]++
					})
				}
			}
			t.Logf("reliability: lying length Sync/Describe/Close headers of 10001 and 2^30 bytes (max_prepared_statements %d): %s FATAL then closed, slowest %s",
				prep, refused, slow)
			for _, typ := range []byte{'P', 'B', 'Q'} {
				t.Run(fmt.Sprintf("%c declaring 1 GB", typ), func(t *testing.T) {
					var body []byte
					switch typ {
					case 'P': // a named statement: read whole when prepared statements are tracked
						body = append([]byte("s1\x00SELECT '"), bytes.Repeat([]byte{'x'}, 2048)...)
					case 'B': // portal name longer than the KiB the pooler peeks at
						body = bytes.Repeat([]byte{'p'}, 2048)
					case 'Q':
						body = append([]byte("SELECT '"), bytes.Repeat([]byte{'x'}, 2048)...)
					}
					base := heapInuse(true)
					conns := make([]net.Conn, clients)
					for i := range conns {
						conns[i] = loginRaw(t, tp)
						send(conns[i].(*net.TCPConn), append(header5(typ, declared), body...), false)
					}
					var maxGrown, back int64
					for i, c := range conns {
						eventually(t, 15*time.Second, fmt.Sprintf("the pooler reads what client %d sent", i), func() bool {
							return unreadByPooler(t, tp, c) == 0
						})
						grown := int64(heapInuse(false)) - int64(base)
						maxGrown = max(maxGrown, grown)
						if grown > 64<<20 {
							t.Fatalf("after %d clients each declared a %d-byte %c and sent %d bytes: heap in use grew by %d MiB, want under 64 MiB",
								i+1, declared, typ, len(body), grown>>20)
						}
					}
					for _, c := range conns {
						var b [1]byte
						_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
						if _, err := c.Read(b[:]); !isTimeout(err) {
							t.Fatalf("a client in the middle of its message got %q, %v from the pooler; want it waiting for the rest", b, err)
						}
						c.Close()
					}
					eventually(t, 15*time.Second, "the heap back within 16 MiB of where it was once the clients closed", func() bool {
						back = int64(heapInuse(true)) - int64(base)
						return back < 16<<20
					})
					stillServes(t, tp, bystander)
					t.Logf("reliability: lying length %c declaring 1 GB, then 2 KiB (max_prepared_statements %d, %d clients): all waiting for the rest, errors none; heap in use grew by at most %.1f MiB (limit 64), %.1f MiB once they closed; a bystander still served",
						typ, prep, clients, float64(maxGrown)/(1<<20), float64(back)/(1<<20))
				})
			}
		})
	}
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
