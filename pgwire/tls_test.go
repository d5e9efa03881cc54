package pgwire

import (
	"io"
	"net"
	"testing"
)

// TestPeekByte: the peeked byte is read again, followed by the rest of the stream.
func TestPeekByte(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		_, _ = client.Write([]byte{TLSHandshakeByte, 3, 1})
		client.Close()
	}()
	first, conn, err := PeekByte(server)
	if err != nil || first != TLSHandshakeByte {
		t.Fatalf("PeekByte = %#x, %v; want %#x", first, err, TLSHandshakeByte)
	}
	all, err := io.ReadAll(conn)
	if err != nil || string(all) != string([]byte{TLSHandshakeByte, 3, 1}) {
		t.Fatalf("read after PeekByte = %v, %v; want the whole stream", all, err)
	}
}

// TestPeekByteEOF: a peer that closes without sending gives io.EOF.
func TestPeekByteEOF(t *testing.T) {
	client, server := net.Pipe()
	client.Close()
	if _, _, err := PeekByte(server); err != io.EOF {
		t.Fatalf("PeekByte on a closed pipe: %v, want io.EOF", err)
	}
}

// countingConn counts the reads of the connection it wraps.
type countingConn struct {
	net.Conn
	reads int
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads++
	return c.Conn.Read(p)
}

// TestPeekByteReadsSSLRequestWhole: an SSLRequest sent in one write is peeked and read with one read of
// the connection, and the StartupMessage after it (here in the same write) is left to the next reads:
// PeekByte holds nothing past the first packet.
func TestPeekByteReadsSSLRequestWhole(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	ssl := []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}
	startup := []byte{0, 0, 0, 9, 0, 3, 0, 0, 0}
	go func() {
		_, _ = client.Write(append(append([]byte(nil), ssl...), startup...))
		client.Close()
	}()
	cc := &countingConn{Conn: server}
	first, conn, err := PeekByte(cc)
	if err != nil || first != 0 {
		t.Fatalf("PeekByte = %#x, %v; want 0", first, err)
	}
	st, err := ReadStartup(conn)
	if err != nil || st.Kind != KindSSLRequest {
		t.Fatalf("ReadStartup = %+v, %v; want an SSLRequest", st, err)
	}
	if cc.reads != 1 {
		t.Errorf("peeking and reading the SSLRequest took %d reads of the connection, want 1", cc.reads)
	}
	rest, err := io.ReadAll(conn)
	if err != nil || string(rest) != string(startup) {
		t.Fatalf("after the SSLRequest: %v, %v; want the StartupMessage's bytes %v", rest, err, startup)
	}
}
