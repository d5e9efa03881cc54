package metrics

import (
	"net/http"
	"net/http/pprof"
)

// Option changes what Handler serves.
type Option func(*http.ServeMux)

// WithPprof makes Handler also serve Go's profiler, net/http/pprof's handlers, under /debug/pprof/ (the
// debug_pprof key, pgpooler's own): the index at /debug/pprof/, each named profile at
// /debug/pprof/NAME (heap, allocs, goroutine, block, mutex, threadcreate; ?debug=1 for text), a CPU
// profile at /debug/pprof/profile?seconds=N (30 by default), an execution trace at
// /debug/pprof/trace?seconds=N, and /debug/pprof/cmdline and /debug/pprof/symbol. They are registered
// on Handler's own mux, not on http.DefaultServeMux (which importing net/http/pprof also fills, and
// which nothing in pgpooler serves).
func WithPprof() Option {
	return func(mux *http.ServeMux) {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
}
