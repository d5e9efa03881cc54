package pgwire

import "io"

// WriteError wraps an error from a Writer's destination, so that a relay can tell a failed write (the
// peer on that side is gone) from a failed read.
type WriteError struct{ Err error }

// Error returns the wrapped error's text.
func (e *WriteError) Error() string { return "write: " + e.Err.Error() }

// Unwrap returns the destination's error.
func (e *WriteError) Unwrap() error { return e.Err }

// Writer batches outgoing messages into one write per burst. It borrows a BufferSize buffer while bytes
// are pending and gives it back on Flush, so an idle Writer holds nothing. It is not safe for concurrent
// use. Errors are *WriteError.
type Writer struct {
	dst io.Writer
	buf []byte
}

// NewWriter returns a Writer to dst.
func NewWriter(dst io.Writer) *Writer { return &Writer{dst: dst} }

// Buffered returns the number of bytes written and not flushed yet.
func (w *Writer) Buffered() int { return len(w.buf) }

// Write queues p (one or more whole messages, or part of a streamed one). It writes through when the
// buffer would overflow; p is not retained.
func (w *Writer) Write(p []byte) error {
	if len(w.buf)+len(p) > BufferSize {
		if err := w.Flush(); err != nil {
			return err
		}
		if len(p) >= BufferSize {
			return w.writeDirect(p)
		}
	}
	if w.buf == nil {
		w.buf = getBuf()[:0]
	}
	w.buf = append(w.buf, p...)
	return nil
}

// WriteMessage queues one message: the type byte typ, the length word (computed), then the bytes of
// parts in order, so that a caller can rewrite a field of a message without first assembling a copy. A
// message of BufferSize bytes or more is assembled and written through.
func (w *Writer) WriteMessage(typ byte, parts ...[]byte) error {
	n := 4
	for _, p := range parts {
		n += len(p)
	}
	if len(w.buf)+1+n > BufferSize {
		if err := w.Flush(); err != nil {
			return err
		}
		if 1+n >= BufferSize {
			msg := make([]byte, 0, 1+n)
			msg = append(msg, typ, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
			for _, p := range parts {
				msg = append(msg, p...)
			}
			return w.writeDirect(msg)
		}
	}
	if w.buf == nil {
		w.buf = getBuf()[:0]
	}
	w.buf = append(w.buf, typ, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	for _, p := range parts {
		w.buf = append(w.buf, p...)
	}
	return nil
}

// Flush writes everything queued and gives the buffer back.
func (w *Writer) Flush() error {
	if w.buf == nil {
		return nil
	}
	b := w.buf
	w.buf = nil
	_, err := w.dst.Write(b)
	putBuf(b)
	if err != nil {
		return &WriteError{Err: err}
	}
	return nil
}

// writeDirect flushes and then writes p without copying it.
func (w *Writer) writeDirect(p []byte) error {
	if err := w.Flush(); err != nil {
		return err
	}
	if _, err := w.dst.Write(p); err != nil {
		return &WriteError{Err: err}
	}
	return nil
}
