// Package loop serves established TCP connections on a fixed set of event loops,
// one goroutine each (pgpooler runs event_loop_count of them), instead of a goroutine per connection.
//
// It is built on github.com/lesismal/nbio (docs/architecture.md has the
// measurements and the reasons): each Loop is one nbio engine with one poller,
// edge-triggered, and this package does its own reads so that a connection's
// reading can be paused (back-pressure) and its unconsumed bytes kept.
//
// The model, for the relay that will use it:
//
//   - Group.Start starts n loops; Group.Stop closes every enrolled connection and
//     stops them.
//   - Loop.Enroll hands an established net.Conn (after login, for example) to one
//     loop; Conn.Loop tells which, so a client and the server lent to it can be
//     enrolled on the same loop and their state needs no lock.
//   - Every Handler callback, every timer function and every function given to
//     Loop.Run runs on the loop's goroutine; Conn's methods must be called there too.
//   - Handler.OnData gets all unconsumed inbound bytes and returns how many it
//     consumed; the rest is kept (bounded by Config.InboundLimit) and offered again
//     with the next bytes.
//   - Back-pressure: Conn.Write buffers what the kernel does not take at once; once a
//     conn's outbound exceeds Config.OutboundLimit, Conn.OverLimit reports it, the
//     handler pauses its peer (Conn.Pause: the peer's socket is no longer read, so
//     TCP flow control pushes back on the sender) and resumes it in OnDrained.
//   - Loop.AfterFunc: timers that run on the loop, costing nothing when unset.
//   - A panic in a callback ends that connection only, logged with its stack.
package loop
