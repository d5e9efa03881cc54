package pgwire

import "sync"

// BufferSize is the size in bytes of the buffers that Reader and Writer borrow while messages are in flight.
// Messages larger than this are streamed (Reader.Forward) or read into a buffer of their own (Reader.ReadMsg).
const BufferSize = 16 * 1024

var bufPool = sync.Pool{New: func() any { b := make([]byte, BufferSize); return &b }}

// getBuf borrows a BufferSize-byte buffer from the shared pool.
func getBuf() []byte { return *(bufPool.Get().(*[]byte)) }

// putBuf gives a buffer back to the shared pool; buffers of another size are left to the garbage collector.
func putBuf(b []byte) {
	if cap(b) != BufferSize {
		return
	}
	b = b[:BufferSize]
	bufPool.Put(&b)
}
