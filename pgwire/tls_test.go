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
