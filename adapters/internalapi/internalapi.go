// Package internalapi serves what operators and Prometheus read and no
// dashboard may: /metrics and, when asked for, Go's profiler. It is meant
// for a listener of its own (loopback by default), never the public one:
// metrics describe every client's traffic, and a profile costs CPU.
//
// The profiler is net/http/pprof without /debug/pprof/cmdline, which would
// print the command line — and any secret passed as a flag with it.
package internalapi

import (
	"net/http"
	"net/http/pprof"

	"github.com/ticketstream/ticketstream/adapters/hostguard"
	"github.com/ticketstream/ticketstream/adapters/httperror"
	"github.com/ticketstream/ticketstream/domain"
)

// Config is what the internal listener serves.
type Config struct {
	// Metrics serves /metrics (Prometheus text format); nil: not served.
	Metrics http.Handler
	// Profiler serves /debug/pprof/ (index, profile, symbol, trace and the
	// named profiles: heap, goroutine, …), but never cmdline.
	Profiler bool
	// Hosts are the Host headers served, as on the public listener; the
	// zero value serves loopback names and addresses only.
	Hosts hostguard.Allowlist
}

// New returns the internal listener's handler. Unknown paths, including
// /debug/pprof/cmdline, get a JSON 404.
func New(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", notFound)
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
	if cfg.Profiler {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", notFound)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return hostguard.Wrap(cfg.Hosts, mux)
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	httperror.Write(w, http.StatusNotFound, httperror.Body{Error: httperror.Detail{Code: string(domain.ENotFound), Message: "no such page"}})
}
