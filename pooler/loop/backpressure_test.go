package loop

import (
	"io"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestBackPressureSlowReader: a server writes 100 MB (1 GB with PGPOOLER_LONG=1)
// through the relay to a client that reads slowly. The relay's outbound buffer
// never exceeds the limit plus one read, and the heap stays bounded.
func TestBackPressureSlowReader(t *testing.T) {
	total := int64(100 << 20)
	if os.Getenv("PGPOOLER_LONG") != "" {
		total = 1 << 30
	}
	const limit = 256 << 10
	const readBuf = 64 << 10
	g := startGroup(t, Config{Loops: 2, OutboundLimit: limit, ReadBufferSize: readBuf})
	app, clientEnd := tcpPair(t)
	serverEnd, pg := tcpPair(t)
	ra, rb := enrollPair(t, g.Loop(0), clientEnd, serverEnd)

	go func() { // the "server": writes as fast as it may
		buf := make([]byte, 64<<10)
		for sent := int64(0); sent < total; sent += int64(len(buf)) {
			if _, err := pg.Write(buf); err != nil {
				return
			}
		}
	}()

	var maxHeap uint64
	var ms runtime.MemStats
	buf := make([]byte, 16<<10)
	var got int64
	deadline := time.Now().Add(25 * time.Second)
	for i := 0; got < total; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d bytes in time", got, total)
		}
		app.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := app.Read(buf)
		got += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%64 == 0 {
			time.Sleep(time.Millisecond) // a slow reader (pacing, not synchronisation)
			runtime.ReadMemStats(&ms)
			maxHeap = max(maxHeap, ms.HeapInuse)
		}
	}
	if got != total {
		t.Fatalf("got %d bytes, want %d", got, total)
	}
	var maxOut int
	onLoop(t, g.Loop(0), func() { maxOut = max(ra.maxOut, rb.maxOut) })
	t.Logf("max relay outbound %d bytes, max heap in use %d MiB", maxOut, maxHeap>>20)
	if maxOut > limit+readBuf {
		t.Errorf("relay outbound reached %d bytes, over the limit %d plus one read %d", maxOut, limit, readBuf)
	}
	if maxHeap > 64<<20 {
		t.Errorf("heap in use reached %d MiB while relaying %d MiB to a slow reader", maxHeap>>20, total>>20)
	}
}
