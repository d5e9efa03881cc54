package main

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"

	"github.com/lesismal/nbio"
)

// runNbio accepts with net.Listener, dials the server and adds both conns to one
// of loops engines of one poller each (nbio picks a poller by fd % NPoller, so one
// engine per loop is how a pair is kept on one poller).
func runNbio(listen, upstream string, loops int, et bool) error {
	engines := make([]*nbio.Engine, loops)
	for i := range engines {
		conf := nbio.Config{Name: "barerelay", NPoller: 1}
		if et {
			conf.EpollMod = nbio.EPOLLET
		}
		g := nbio.NewEngine(conf)
		g.OnData(func(c *nbio.Conn, data []byte) {
			if peer, ok := c.Session().(*nbio.Conn); ok {
				if _, err := peer.Write(data); err != nil {
					_ = c.Close()
				}
			}
		})
		if et {
			g.OnRead(func(c *nbio.Conn) { readAll(g, c) })
		}
		g.OnClose(func(c *nbio.Conn, _ error) {
			if peer, ok := c.Session().(*nbio.Conn); ok {
				_ = peer.Close()
			}
		})
		if err := g.Start(); err != nil {
			return err
		}
		engines[i] = g
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	var next atomic.Uint64
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
			nc, err1 := nbio.NBConn(c)
			ns, err2 := nbio.NBConn(s)
			c.Close() // NBConn dups the fd
			s.Close()
			if err1 != nil || err2 != nil {
				return
			}
			nc.SetSession(ns)
			ns.SetSession(nc)
			g := engines[next.Add(1)%uint64(len(engines))]
			if _, err := g.AddConn(ns); err != nil {
				nc.Close()
				return
			}
			if _, err := g.AddConn(nc); err != nil {
				ns.Close()
			}
		}()
	}
}

// readAll reads an edge-triggered conn until EAGAIN, relaying each chunk.
func readAll(g *nbio.Engine, c *nbio.Conn) {
	buf := g.PollerBuffer(c)
	peer, _ := c.Session().(*nbio.Conn)
	for {
		n, err := c.Read(buf)
		if n > 0 && peer != nil {
			if _, werr := peer.Write(buf[:n]); werr != nil {
				_ = c.Close()
				return
			}
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			return
		}
		if err != nil || n == 0 {
			_ = c.Close()
			return
		}
	}
}
