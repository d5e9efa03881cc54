package pooler

import (
	"net"
	"time"
)

// enrolledSocket stands in for the socket of a client handed to an event loop (serveOnLoop): the loop
// works on a duplicate of the descriptor and the original is closed, so all that is left to keep is the
// two addresses, for SHOW CLIENTS (addr, port, local_addr, local_port), the same objects the loop's conn
// keeps. It costs an idle client 32 bytes where the closed *net.TCPConn kept its netFD. Reads and
// writes fail with net.ErrClosed; Close and the deadlines do nothing.
type enrolledSocket struct {
	local, remote net.Addr
}

// newEnrolledSocket keeps the addresses of c, a connection about to be enrolled.
func newEnrolledSocket(c net.Conn) *enrolledSocket {
	return &enrolledSocket{local: c.LocalAddr(), remote: c.RemoteAddr()}
}

func (s *enrolledSocket) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (s *enrolledSocket) Write([]byte) (int, error)        { return 0, net.ErrClosed }
func (s *enrolledSocket) Close() error                     { return nil }
func (s *enrolledSocket) LocalAddr() net.Addr              { return s.local }
func (s *enrolledSocket) RemoteAddr() net.Addr             { return s.remote }
func (s *enrolledSocket) SetDeadline(time.Time) error      { return nil }
func (s *enrolledSocket) SetReadDeadline(time.Time) error  { return nil }
func (s *enrolledSocket) SetWriteDeadline(time.Time) error { return nil }
