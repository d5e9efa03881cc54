package loop

import (
	"net"
	"reflect"
	"unsafe"

	"github.com/lesismal/nbio"
)

// rawConnSupported: Listen and EnrollFD work here.
const rawConnSupported = true

// setStream marks nc, made from a raw socket, as a TCP stream, as nbio.NBConn does for a *net.TCPConn: its
// reads and writes go by the type (nbio v1.6.x Conn.typ, unexported, set by reflection; an nbio without that
// field makes Listen and EnrollFD return ErrListenUnsupported, as pollFD does for Detach).
func setStream(nc *nbio.Conn) bool {
	if nc.Type() == nbio.ConnTypeTCP {
		return true
	}
	f := reflect.ValueOf(nc).Elem().FieldByName("typ")
	if !f.IsValid() || !f.CanAddr() || f.Type() != reflect.TypeOf(nbio.ConnTypeTCP) {
		return false
	}
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(nbio.ConnTypeTCP))
	return nc.Type() == nbio.ConnTypeTCP
}

// newStreamConn makes nbio's conn of fd, a TCP socket, as nbio.NBConn's dupStdConn does (nbio v1.6.x: fd,
// typ, lAddr and rAddr, unexported, set by reflection) but without its duplicate of the descriptor and the
// close of the original: two system calls less per accepted connection, and none that can fail for want of
// a descriptor. nil when nbio's Conn no longer has those fields (adoptFD then duplicates).
func newStreamConn(fd int, local, remote net.Addr) *nbio.Conn {
	nc := &nbio.Conn{}
	v := reflect.ValueOf(nc).Elem()
	set := func(name string, val any) bool {
		f := v.FieldByName(name)
		if !f.IsValid() {
			return false
		}
		if val == nil {
			return f.Kind() == reflect.Interface // left nil
		}
		rv := reflect.ValueOf(val)
		if !rv.Type().AssignableTo(f.Type()) {
			return false
		}
		reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(rv)
		return true
	}
	var l, r any
	if local != nil {
		l = local
	}
	if remote != nil {
		r = remote
	}
	if !set("fd", fd) || !set("typ", nbio.ConnTypeTCP) || !set("lAddr", l) || !set("rAddr", r) {
		return nil
	}
	if nc.Hash() != fd || nc.Type() != nbio.ConnTypeTCP {
		return nil
	}
	return nc
}
