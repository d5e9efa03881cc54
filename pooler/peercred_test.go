package pooler

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestPeerUID: over a real Unix socket the peer's uid is this process's; a TCP connection carries no
// peer credentials.
func TestPeerUID(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "freebsd" {
		t.Skip("no peer credentials on " + runtime.GOOS)
	}
	for _, network := range []string{"unix", "tcp"} {
		addr := "127.0.0.1:0"
		if network == "unix" {
			addr = filepath.Join(t.TempDir(), "s")
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}()
		client, err := net.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, ok := <-accepted
		if !ok {
			t.Fatal("accept failed")
		}
		uid, err := peerUID(server)
		switch {
		case network == "unix" && (err != nil || uid != uint32(os.Getuid())):
			t.Errorf("unix: peerUID = %d, %v; want %d", uid, err, os.Getuid())
		case network == "tcp" && !errors.Is(err, errNoPeerCred):
			t.Errorf("tcp: peerUID = %d, %v; want errNoPeerCred", uid, err)
		}
		client.Close()
		server.Close()
		ln.Close()
	}
}
