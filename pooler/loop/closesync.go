package loop

import (
	"reflect"
	"sync"
	"unsafe"

	"github.com/lesismal/nbio"
)

// syncOnClose makes eng call h on the goroutine that closes a conn (the loop's: a hang-up, a read or write
// error, a Close on the loop; Engine.Stop's at the end) instead of in a goroutine: nbio v1.6.x's
// Engine.OnClose wraps every call in Engine.Async, which starts a goroutine per closed conn (and wakes
// another thread to run it) even when h has nothing to do, as for every conn the loop closed itself
// (Loop.onClosed, Conn.gone). It sets Engine.onClose, unexported, by reflection, keeping what OnClose's
// wrapper does besides (wgConn.Done, which Engine.Stop waits for); it reports false, leaving eng as
// OnClose set it, when nbio's Engine no longer has those fields. h must not block (onClosed queues, with
// Loop.Run, what the loop does about a close).
func syncOnClose(eng *nbio.Engine, h func(*nbio.Conn, error)) bool {
	v := reflect.ValueOf(eng).Elem()
	oc, wg := v.FieldByName("onClose"), v.FieldByName("wgConn")
	if !oc.IsValid() || oc.Type() != reflect.TypeOf(h) || !wg.IsValid() || wg.Type() != reflect.TypeOf(sync.WaitGroup{}) {
		return false
	}
	done := (*sync.WaitGroup)(unsafe.Pointer(wg.UnsafeAddr()))
	f := func(c *nbio.Conn, err error) {
		defer done.Done()
		h(c, err)
	}
	reflect.NewAt(oc.Type(), unsafe.Pointer(oc.UnsafeAddr())).Elem().Set(reflect.ValueOf(f))
	return true
}
