package pgwire

import (
	"encoding/binary"
	"io"
	"math"
)

// smallSize is the size in bytes of the array inside each Reader that idle reads land in.
const smallSize = 512

// HeaderSize is the size in bytes of a regular message header: a type byte and an int32 length that counts
// itself but not the type byte (PostgreSQL protocol docs, "Message Formats").
const HeaderSize = 5

// DefaultMaxMessageSize is the largest message length accepted when Reader.MaxMessageSize is zero: the
// protocol's own limit (int32), as PgBouncer's max_packet_size default.
const DefaultMaxMessageSize = 1<<31 - 1

// Reader frames the messages of one direction of a connection. It is not safe for concurrent use.
//
// Use Next to learn the type and length of the next message, then consume it with exactly one of ReadMsg
// (the whole message, for decoding) or Forward (raw bytes to a Writer, streamed if large). Next without
// consuming returns the same header again.
//
// While no bytes are buffered the Reader holds no pooled buffer: a blocking read goes into a small array
// inside the Reader (smallSize bytes), and a BufferSize buffer is borrowed only when a message does not
// fit there. One read system call then serves a typical query or reply. A message larger than that, read
// whole by ReadMsg, goes into a buffer of its own that grows as its bytes arrive (doubling), never to more
// than about twice what has arrived, so a header that lies about its length costs little; that buffer is
// dropped once the message has been consumed.
type Reader struct {
	// MaxMessageSize is the largest accepted message length in bytes, counting the length word but not the
	// type byte; larger ones make Next fail with a *Error (08P01). Zero means DefaultMaxMessageSize.
	MaxMessageSize int

	// TypeLimit, when set, returns the largest accepted length in bytes of a message of the given type
	// (FrontendLimit for client connections, BackendLimit for server connections); Next refuses a longer
	// one with a *Error (08P01) from its header alone. MaxMessageSize still applies when it is smaller.
	TypeLimit func(typ byte) int

	src   io.Reader
	buf   []byte // small, borrowed, or (for a large ReadMsg) owned; nil while nothing is buffered
	r, w  int
	small [smallSize]byte // where an idle read lands: most messages fit, so most bursts need no borrowing

	hdrOK  bool // a header has been validated by Next and not consumed yet
	typ    byte
	length int // message length from the header (counts the 4-byte length word)

	outHdr [HeaderSize]byte // the rewritten header that ForwardWithPrefix writes
}

// NewReader returns a Reader of messages from src.
func NewReader(src io.Reader) *Reader { return &Reader{src: src} }

// Buffered returns the number of bytes read from the source and not consumed yet.
func (rd *Reader) Buffered() int { return rd.w - rd.r }

// HasMessage reports whether the next message's header is already buffered, so that Next will not block.
func (rd *Reader) HasMessage() bool { return rd.w-rd.r >= HeaderSize }

// Release drops whatever is buffered and gives the buffer back to the shared pool (an owned one to the
// garbage collector). Readers release on their own whenever they become empty; Release is for the owner
// that drops a Reader, its connection closed, perhaps in the middle of a message: the Reader then holds
// nothing, however long the owner is kept.
func (rd *Reader) Release() {
	if rd.buf != nil {
		putBuf(rd.buf) // only a BufferSize buffer goes back
		rd.buf, rd.r, rd.w, rd.hdrOK = nil, 0, 0, false
	}
}

// Next blocks until the next message's header is available and returns its type byte and its length
// (which counts the 4-byte length word, as on the wire). A length below 4, above MaxMessageSize or above
// the type's TypeLimit is a *Error with SQLSTATE 08P01 naming the type and the limit, returned before any
// of the body is read. io.EOF means the peer closed between messages; io.ErrUnexpectedEOF inside one.
func (rd *Reader) Next() (typ byte, length int, err error) {
	if rd.hdrOK {
		return rd.typ, rd.length, nil
	}
	if err := rd.fill(HeaderSize, true); err != nil {
		return 0, 0, err
	}
	typ = rd.buf[rd.r]
	n := int(int32(binary.BigEndian.Uint32(rd.buf[rd.r+1:])))
	limit := rd.MaxMessageSize
	if limit <= 0 {
		limit = DefaultMaxMessageSize
	}
	if n < 4 {
		return 0, 0, ProtocolViolation("invalid message length %d for message type %q", n, typ)
	}
	if rd.TypeLimit != nil {
		if tl := rd.TypeLimit(typ); tl < limit && n > tl {
			return 0, 0, ProtocolViolation("message of type %q is %d bytes, over the limit of %d bytes for that message type", typ, n, tl)
		}
	}
	if n > limit {
		return 0, 0, ProtocolViolation("message of type %q is %d bytes, over the limit of %d bytes (max_packet_size)", typ, n, limit)
	}
	rd.hdrOK, rd.typ, rd.length = true, typ, n
	return typ, n, nil
}

// ReadMsg reads the whole current message (after Next) and returns it with its header: type byte, length
// word, body. The slice is valid until the next call on the Reader.
func (rd *Reader) ReadMsg() ([]byte, error) {
	if _, _, err := rd.Next(); err != nil {
		return nil, err
	}
	total := 1 + rd.length
	if err := rd.fill(total, false); err != nil {
		return nil, err
	}
	msg := rd.buf[rd.r : rd.r+total]
	rd.r += total
	rd.hdrOK = false
	// An emptied buffer is given back by the next fill, not here: msg points into it.
	return msg, nil
}

// Peek returns up to max bytes of the current message's body (after Next) without consuming it, so
// that a caller can decide between Forward and ReadMsg from a message's first fields. The slice is valid
// until the next call on the Reader; max is capped at BufferSize-HeaderSize.
func (rd *Reader) Peek(max int) ([]byte, error) {
	if _, _, err := rd.Next(); err != nil {
		return nil, err
	}
	n := min(rd.length-4, max, BufferSize-HeaderSize)
	if err := rd.fill(HeaderSize+n, false); err != nil {
		return nil, err
	}
	return rd.buf[rd.r+HeaderSize : rd.r+HeaderSize+n], nil
}

// Forward copies the current message (after Next), unchanged, to w. A message that is not wholly
// buffered is streamed: w is flushed and the rest copied straight from the source, so no buffer grows
// with the message. Errors from the source are returned as they are; errors from w are wrapped in
// *WriteError so that the caller can tell which side failed.
func (rd *Reader) Forward(w *Writer) error {
	if _, _, err := rd.Next(); err != nil {
		return err
	}
	return rd.forwardRest(1+rd.length, w)
}

// ForwardWithPrefix forwards the current message (after Next) to w with the first skip bytes of its
// body replaced by prefix: the type byte is kept, the length word is recomputed, and the rest of the
// body is copied as Forward copies it (streamed when it is not wholly buffered, so no buffer grows with
// the message). It lets a caller rewrite a message's leading fields, found with Peek, without reading a
// large message whole. skip, in bytes, must be at most the body length (message length - 4) and at most
// what Peek can return (BufferSize-HeaderSize), and the new message length (message length - skip +
// len(prefix), in bytes) must fit an int32; otherwise it returns a *Error (08P01, ProtocolViolation) and
// consumes nothing. Errors from the source are returned as they are; errors from w are wrapped in
// *WriteError as in Forward. prefix is not retained.
func (rd *Reader) ForwardWithPrefix(prefix []byte, skip int, w *Writer) error {
	typ, length, err := rd.Next()
	if err != nil {
		return err
	}
	if skip < 0 || skip > length-4 || skip > BufferSize-HeaderSize {
		return ProtocolViolation("cannot replace %d bytes of the %d-byte body of a message of type %q (at most %d)",
			skip, length-4, typ, BufferSize-HeaderSize)
	}
	newLength := int64(length) - int64(skip) + int64(len(prefix))
	if newLength > math.MaxInt32 {
		return ProtocolViolation("message of type %q would be %d bytes after rewriting, over the protocol's limit of %d bytes",
			typ, newLength, math.MaxInt32)
	}
	if err := rd.fill(HeaderSize+skip, false); err != nil {
		return err
	}
	// The header goes out of an array inside the Reader: a local one would escape through w (an
	// io.Writer) and cost an allocation per message.
	rd.outHdr[0] = typ
	binary.BigEndian.PutUint32(rd.outHdr[1:], uint32(newLength))
	if err := w.Write(rd.outHdr[:]); err != nil {
		return err
	}
	if err := w.Write(prefix); err != nil {
		return err
	}
	rd.r += HeaderSize + skip
	return rd.forwardRest(length-4-skip, w)
}

// forwardRest copies the last rest bytes of the current message, which start at rd.r, to w and ends the
// message. Bytes not buffered yet are read into the buffer when the rest bytes fit one (BufferSize), and
// streamed otherwise: the buffered part is written, w flushed, and the remainder copied from the source
// through a borrowed buffer, so that nothing grows with the message.
func (rd *Reader) forwardRest(rest int, w *Writer) error {
	if rest <= BufferSize {
		if err := rd.fill(rest, false); err != nil {
			return err
		}
		err := w.Write(rd.buf[rd.r : rd.r+rest])
		rd.r += rest
		rd.hdrOK = false
		rd.releaseIfEmpty()
		return err
	}
	// Large message: flush what w holds, then the buffered part, then stream the remainder.
	have := min(rd.w-rd.r, rest)
	if err := w.Write(rd.buf[rd.r : rd.r+have]); err != nil {
		return err
	}
	rd.r += have
	rd.hdrOK = false
	rd.releaseIfEmpty()
	if err := w.Flush(); err != nil {
		return err
	}
	// Stream the remainder through a borrowed buffer: no allocation per message.
	buf := getBuf()
	defer putBuf(buf)
	for remaining := rest - have; remaining > 0; {
		n, err := rd.src.Read(buf[:min(remaining, len(buf))])
		if n > 0 {
			if werr := w.writeDirect(buf[:n]); werr != nil {
				return werr
			}
			remaining -= n
		}
		if err != nil && remaining > 0 {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// Discard skips the current message (after Next) without forwarding it.
func (rd *Reader) Discard() error {
	if _, _, err := rd.Next(); err != nil {
		return err
	}
	total := 1 + rd.length
	for total > 0 {
		if rd.r == rd.w {
			// The rest is still to come: ask for as much of it as a buffer holds, not one byte at a time.
			if err := rd.fill(min(total, BufferSize), false); err != nil {
				return err
			}
		}
		n := min(total, rd.w-rd.r)
		rd.r += n
		total -= n
	}
	rd.hdrOK = false
	rd.releaseIfEmpty()
	return nil
}

// ReadAhead reads once from the source into the buffer's free space, so that another goroutine can watch
// the source (for its end) while the Reader's owner is blocked elsewhere; the owner must not use the
// Reader until ReadAhead has returned, and must learn that it has through a synchronising event (a
// channel). Bytes read are consumed by later calls in order, as if they had just arrived. ReadAhead never
// moves or gives back what is buffered, so slices returned earlier stay valid: it reads into the space
// after the buffered bytes, borrowing a BufferSize buffer (and leaving the small array untouched) when
// only the small array's space is left. It returns the number of bytes read and the source's error as it
// is (io.EOF, a timeout); 0 and nil when no space is left, so that at most BufferSize bytes are read
// ahead.
func (rd *Reader) ReadAhead() (int, error) {
	if rd.buf == nil {
		rd.buf, rd.r, rd.w = rd.small[:], 0, 0
	}
	if rd.w == len(rd.buf) {
		if cap(rd.buf) != smallSize {
			return 0, nil
		}
		nb := getBuf() // the small array keeps what it holds: a slice of it may still be in use
		rd.w = copy(nb, rd.buf[rd.r:rd.w])
		rd.buf, rd.r = nb, 0
	}
	n, err := rd.src.Read(rd.buf[rd.w:])
	rd.w += n
	return n, err
}

// releaseIfEmpty gives the buffer back once everything in it has been consumed.
func (rd *Reader) releaseIfEmpty() {
	if rd.r == rd.w && rd.buf != nil {
		if cap(rd.buf) == BufferSize {
			putBuf(rd.buf)
		}
		rd.buf, rd.r, rd.w = nil, 0, 0
	}
}

// fill makes at least need bytes available in rd.buf[rd.r:rd.w]. atBoundary tells that the Reader sits
// between messages, where io.EOF is a clean close.
func (rd *Reader) fill(need int, atBoundary bool) error {
	if rd.r == rd.w {
		rd.releaseIfEmpty()
	} else if cap(rd.buf) > BufferSize && 2*(rd.w-rd.r) < cap(rd.buf) {
		rd.shrink()
	}
	for rd.w-rd.r < need {
		if rd.buf == nil {
			rd.buf, rd.r, rd.w = rd.small[:], 0, 0
		}
		if need > len(rd.buf)-rd.r {
			rd.makeRoom(need)
		}
		n, err := rd.src.Read(rd.buf[rd.w:])
		rd.w += n
		if err != nil && rd.w-rd.r < need {
			err = rd.readErr(err, atBoundary)
			rd.releaseIfEmpty()
			return err
		}
	}
	return nil
}

// makeRoom makes room for more bytes after rd.w on the way to need bytes from rd.r. Up to BufferSize
// bytes it moves the buffered bytes to the start of the buffer, or into a borrowed BufferSize one. Beyond
// that it never allocates for bytes that have not arrived: the buffer is doubled (starting from a
// BufferSize one, capped at need) only once it is full, so a header that lies costs at most about twice
// what was actually sent.
func (rd *Reader) makeRoom(need int) {
	switch {
	case need <= len(rd.buf):
		rd.w = copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.r = 0
	case need <= BufferSize || len(rd.buf) < BufferSize:
		rd.moveTo(getBuf())
	default:
		if rd.r > 0 {
			rd.w = copy(rd.buf, rd.buf[rd.r:rd.w])
			rd.r = 0
		}
		if rd.w == len(rd.buf) {
			rd.moveTo(make([]byte, min(need, 2*len(rd.buf))))
		}
	}
}

// shrink moves the buffered bytes out of an owned buffer that they fill less than half of (what is left
// of the message after a large one, or of a large message after its consumed part) into one that fits
// them: the Reader keeps no large buffer for bytes it no longer holds.
func (rd *Reader) shrink() {
	n := rd.w - rd.r
	switch {
	case n <= smallSize:
		rd.moveTo(rd.small[:])
	case n <= BufferSize:
		rd.moveTo(getBuf())
	default:
		rd.moveTo(make([]byte, n))
	}
}

// moveTo moves the buffered bytes to the start of nb, which becomes the buffer; a borrowed buffer left
// behind goes back to the pool, an owned one to the garbage collector.
func (rd *Reader) moveTo(nb []byte) {
	n := copy(nb, rd.buf[rd.r:rd.w])
	if cap(rd.buf) == BufferSize {
		putBuf(rd.buf)
	}
	rd.buf, rd.r, rd.w = nb, 0, n
}

func (rd *Reader) readErr(err error, atBoundary bool) error {
	if err == io.EOF && (!atBoundary || rd.w > rd.r) {
		return io.ErrUnexpectedEOF
	}
	return err
}
