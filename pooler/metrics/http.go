package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pgpooler/pgpooler/pooler"
)

// NewRegistry returns a registry holding everything the metrics endpoint serves: a Collector over srv,
// Histograms (which it sets as srv's Observer: call it before srv serves), and the standard Go runtime
// (go_*) and process (process_*) collectors.
func NewRegistry(srv *pooler.Server) *prometheus.Registry {
	h := NewHistograms()
	srv.SetObserver(h)
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(srv),
		h,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// ReadyTimeout bounds one readiness check of /readyz; Kubernetes' default probe timeout is one second.
const ReadyTimeout = time.Second

// Handler serves
//
//   - GET /metrics: what g gathers, in the Prometheus text format or whatever else the scraper
//     negotiates (OpenMetrics, protobuf);
//   - GET /healthz: 200 "ok" as long as the process answers (a liveness probe);
//   - GET /readyz: 200 "ok" when ready returns nil within ReadyTimeout, else 503 "not ready: " and
//     the reason (a readiness probe). A nil ready makes /readyz answer as /healthz;
//   - and what opts add (WithPprof: /debug/pprof/).
//
// In cmd/pgpooler, ready is pooler.Server.Ready.
func Handler(g prometheus.Gatherer, ready func(context.Context) error, opts ...Option) http.Handler {
	mux := http.NewServeMux()
	for _, o := range opts {
		o(mux)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		plain(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
			defer cancel()
			if err := ready(ctx); err != nil {
				plain(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
				return
			}
		}
		plain(w, http.StatusOK, "ok")
	})
	return mux
}

// plain writes a text/plain answer.
func plain(w http.ResponseWriter, code int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, text)
}

// Server is the metrics endpoint's HTTP server, started with Start and stopped with Shutdown.
type Server struct {
	hs     *http.Server
	ln     net.Listener
	served chan struct{} // closed when Serve returned
}

// Start listens on addr (host:port, as metrics_addr; port 0 picks a free one) and serves h in the
// background until Shutdown. It returns the listen error, if any; later serve errors are logged to
// logger (nil: slog.Default()).
func Start(addr string, h http.Handler, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_addr %q: %w", addr, err)
	}
	s := &Server{
		hs: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		ln:     ln,
		served: make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		if err := s.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics endpoint stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
	logger.Info("metrics endpoint listening", "addr", ln.Addr().String())
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops the server: no new connections, requests in flight finish until ctx ends, then
// everything is closed. It returns once the server has stopped.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.hs.Shutdown(ctx)
	if err != nil {
		s.hs.Close()
	}
	<-s.served
	return err
}
