package main

import (
	"io"
	"net"
)

// runGoroutine serves each client with two goroutines copying with io.Copy.
func runGoroutine(listen, upstream string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			s, err := dialUpstream(upstream)
			if err != nil {
				c.Close()
				return
			}
			go func() { io.Copy(s, c); s.Close(); c.Close() }()
			io.Copy(c, s)
			c.Close()
			s.Close()
		}()
	}
}
