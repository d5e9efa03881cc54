package pooler

import (
	"bytes"
	"testing"

	"github.com/pgpooler/pgpooler/pgwire"
)

// TestCancelRegistryKeyLengths: a protocol 3.0 client's 4-byte key and a protocol 3.2 client's 32-byte
// key each find their client; a key of the other length, a wrong byte or a longer key finds none; a
// lookup allocates nothing; unregister forgets both kinds.
func TestCancelRegistryKeyLengths(t *testing.T) {
	var r cancelRegistry
	r.init()
	c30, c32 := &clientConn{}, &clientConn{}
	k30 := bytes.Clone(r.register(c30, pgwire.CancelKeyLen30))
	k32 := bytes.Clone(r.register(c32, pgwire.CancelKeyLen32))
	if len(k30) != 4 || len(k32) != 32 {
		t.Fatalf("key lengths %d and %d; want 4 and 32", len(k30), len(k32))
	}
	if bytes.Equal(k32, make([]byte, 32)) {
		t.Fatal("the 32-byte key is all zeros")
	}
	if r.lookup(c30.cancelPID, k30) != c30 || r.lookup(c32.cancelPID, k32) != c32 {
		t.Fatal("a client's own key does not find it")
	}
	flipped := bytes.Clone(k32)
	flipped[17] ^= 0x40
	for name, k := range map[string][]byte{
		"the 3.2 key's first 4 bytes": k32[:4],
		"a 3.2 key with a wrong byte": flipped,
		"the 3.2 key and one more":    append(bytes.Clone(k32), 0),
		"zeros of 3.0 length":         make([]byte, 4),
	} {
		if r.lookup(c32.cancelPID, k) != nil {
			t.Errorf("%s finds the 3.2 client", name)
		}
	}
	if r.lookup(c30.cancelPID, append(bytes.Clone(k30), k30...)) != nil {
		t.Error("the 3.0 key twice finds the 3.0 client")
	}
	if n := testing.AllocsPerRun(100, func() {
		r.lookup(c32.cancelPID, k32)
		r.lookup(c30.cancelPID, k30)
		r.lookup(c32.cancelPID, flipped)
	}); n != 0 {
		t.Errorf("lookups allocate %v times; want 0", n)
	}
	r.unregister(c32)
	r.unregister(c30)
	if r.lookup(c32.cancelPID, k32) != nil || r.lookup(c30.cancelPID, k30) != nil || len(r.long) != 0 {
		t.Fatalf("after unregister: found, or %d long keys kept", len(r.long))
	}
}
