package main

import (
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	mode := flag.String("mode", "goroutine", "goroutine, gnet, gnet-enroll, nbio or nbio-et")
	listen := flag.String("listen", "127.0.0.1:6433", "address to accept clients on")
	upstream := flag.String("upstream", "127.0.0.1:5432", "address of the server to relay to")
	loops := flag.Int("loops", runtime.NumCPU(), "event loops (pollers)")
	idle := flag.String("idle-upstream", "", "with -mode idle-*: not used")
	flag.Parse()
	_ = idle

	var err error
	switch *mode {
	case "goroutine":
		err = runGoroutine(*listen, *upstream)
	case "gnet":
		err = runGnet(*listen, *upstream, *loops)
	case "gnet-enroll":
		err = runGnetEnroll(*listen, *upstream, *loops)
	case "nbio":
		err = runNbio(*listen, *upstream, *loops, false)
	case "nbio-et":
		err = runNbio(*listen, *upstream, *loops, true)
	default:
		log.Fatalf("unknown mode %q", *mode)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// waitSignal blocks until SIGINT or SIGTERM.
func waitSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	<-ch
}

// dialUpstream dials the server with TCP_NODELAY (Go's default).
func dialUpstream(upstream string) (net.Conn, error) {
	return net.Dial("tcp", upstream)
}
