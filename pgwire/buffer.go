package pgwire

import "sync"

// BufferSize is the size in bytes of the buffers that Reader and Writer borrow while messages are in flight.
// Messages larger than this are streamed (Reader.Forward) or read into a buffer of their own (Reader.ReadMsg).
const BufferSize = 16 * 1024

// bufPool holds *[BufferSize]byte: an array pointer converts to and from a slice without allocating, where
// a *[]byte would need a new slice header on every Put (staticcheck SA6002).
var bufPool = sync.Pool{New: func() any { return new([BufferSize]byte) }}

// getBuf borrows a BufferSize-byte buffer from the shared pool.
func getBuf() []byte { return bufPool.Get().(*[BufferSize]byte)[:] }

// putBuf gives a buffer back to the shared pool; buffers of another capacity are left to the garbage collector.
func putBuf(b []byte) {
	if cap(b) != BufferSize {
		return
	}
	bufPool.Put((*[BufferSize]byte)(b[:BufferSize]))
}
