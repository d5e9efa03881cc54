// Command barerelay is a bare 1:1 TCP relay used to measure the floor of CPU per
// transaction for each way of serving connections that pgpooler considered
// (docs/architecture.md has the numbers and the choice).
//
// It accepts a client, dials the upstream (PostgreSQL) and copies bytes both ways,
// nothing else: no protocol parsing, no pooling. Modes (-mode):
//
//	goroutine     two goroutines per connection pair with io.Copy
//	gnet          gnet v2 event loops, one per core; the client accepted by gnet,
//	              the server dialed in a goroutine and enrolled on the client's loop
//	gnet-enroll   gnet v2; the client accepted by net.Listener and handed over with
//	              Client.Enroll, the server enrolled on the client's loop
//	nbio          lesismal/nbio, one engine (one poller) per core; client and server
//	              added to the same poller; nbio reads (level-triggered, OnData)
//	nbio-et       as nbio, but edge-triggered with our own OnRead (the mode that
//	              allows pausing reads for back-pressure)
//
// bench/barerelay/measure.sh drives each mode (and PgBouncer) with pgbench -S and
// reports the relay process's CPU microseconds per transaction.
package main
