package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ticketstream/ticketstream/adapters/restapi"
)

// startInternal serves handler (metrics, and the profiler when asked for)
// on addr, a listener of its own that the public one never shares. It
// returns a func that stops it; onListen, if set, learns the address.
func startInternal(addr string, handler http.Handler, log *slog.Logger, onListen func(string)) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("internal listener (--internal-listen, TICKETSTREAM_INTERNAL_LISTEN) on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: restapi.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("internal listener stopped", "err", err)
		}
	}()
	log.Info("internal listener (metrics) listening", "internal_addr", ln.Addr().String())
	if onListen != nil {
		onListen(ln.Addr().String())
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
