package pooler

// laterBuf holds what other goroutines write to a client served on a loop (kill's goodbye,
// learnTentative's ParameterStatus, finish's error) until the loop writes it (loopClient.flushLater):
// the destination of the client's Writer, under clientConn.wmu. A slice rather than a bytes.Buffer: an
// idle client keeps 24 bytes for it, nothing allocated until something is written.
type laterBuf []byte

// Write appends p; it never fails.
func (b *laterBuf) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}
