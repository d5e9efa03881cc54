package main

import (
	"context"
	"net"

	"github.com/panjf2000/gnet/v2"
)

// gnetRelay copies whatever arrives on a conn to its peer. Both conns of a pair
// live on one loop, so the peer field needs no lock.
type gnetRelay struct {
	gnet.BuiltinEventEngine
	upstream string
}

// gnetPeer is the Context of an enrolled conn: its peer, once known.
type gnetPeer struct {
	peer     gnet.Conn
	enrolled bool // a client enrolled by runGnetEnroll: its server is on the way
}

func (r *gnetRelay) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if p, ok := c.Context().(*gnetPeer); ok && p.peer != nil {
		// The server side, just enrolled: link the client to it and flush what the
		// client sent meanwhile.
		p.peer.SetContext(&gnetPeer{peer: c})
		_ = p.peer.Wake(nil)
		return nil, gnet.None
	}
	if p, ok := c.Context().(*gnetPeer); ok && p.enrolled {
		return nil, gnet.None
	}
	c.SetContext(&gnetPeer{})
	go func() { // accepted by gnet: dial without blocking the loop
		s, err := dialUpstream(r.upstream)
		if err != nil {
			_ = c.Close()
			return
		}
		ctx := gnet.NewContext(context.Background(), &gnetPeer{peer: c})
		if _, err := c.EventLoop().Enroll(ctx, s); err != nil {
			_ = c.Close()
		}
	}()
	return nil, gnet.None
}

func (r *gnetRelay) OnTraffic(c gnet.Conn) gnet.Action {
	p, _ := c.Context().(*gnetPeer)
	if p == nil || p.peer == nil {
		return gnet.None // keep the bytes until the peer is there
	}
	buf, _ := c.Next(-1)
	if _, err := p.peer.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

func (r *gnetRelay) OnClose(c gnet.Conn, _ error) gnet.Action {
	if p, ok := c.Context().(*gnetPeer); ok && p.peer != nil {
		peer := p.peer
		p.peer = nil
		if pp, ok := peer.Context().(*gnetPeer); ok {
			pp.peer = nil
		}
		_ = peer.EventLoop().Close(peer)
	}
	return gnet.None
}

// runGnet lets gnet accept the clients (one loop per core).
func runGnet(listen, upstream string, loops int) error {
	return gnet.Run(&gnetRelay{upstream: upstream}, "tcp://"+listen,
		gnet.WithMulticore(true), gnet.WithNumEventLoop(loops), gnet.WithTCPNoDelay(gnet.TCPNoDelay))
}

// runGnetEnroll accepts with net.Listener and dials in the accepting goroutine, then
// enrolls the client with Client.Enroll (least-connections loop) and the server on
// the client's loop, as pgpooler would after a login.
func runGnetEnroll(listen, upstream string, loops int) error {
	h := &gnetRelay{upstream: upstream}
	cli, err := gnet.NewClient(h, gnet.WithMulticore(true), gnet.WithNumEventLoop(loops),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay))
	if err != nil {
		return err
	}
	if err := cli.Start(); err != nil {
		return err
	}
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
			gc, err := cli.EnrollContext(c, &gnetPeer{enrolled: true})
			if err != nil {
				s.Close()
				return
			}
			ctx := gnet.NewContext(context.Background(), &gnetPeer{peer: gc})
			if _, err := gc.EventLoop().Enroll(ctx, s); err != nil {
				_ = gc.Close()
			}
		}()
	}
}
