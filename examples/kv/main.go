// Command kv is a single-node key-value server that follows clstr's
// kv-store contract: PUT, GET and DELETE /kv/{key}, DELETE /clear and
// GET /health, with plain-text answers.
//
// Every acknowledged write is durable: it is appended to a log in DATA_DIR
// and fsynced before the server answers, with concurrent writes sharing one
// fsync (group commit). The log is replayed and compacted on start, so the
// data survives both SIGTERM and SIGKILL.
//
// Environment:
//
//	ADDR      the node's ip:port; the server listens on its port (default :8080)
//	DATA_DIR  where the log lives (default the working directory)
//	KV_BUG    plants one of the bugs listed in README.md; unset for none
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The planted bugs, switched on with KV_BUG. README.md says what each does.
const (
	bugEmptyValue       = "empty-value"
	bugDeleteMissing404 = "delete-missing-404"
	bugNo405            = "no-405"
	bugCaseFold         = "case-fold"
	bugRacy             = "racy"
	bugMemoryOnly       = "memory-only"
	bugSIGTERMOnly      = "sigterm-only"
	bugLostOnSIGKILL    = "lost-on-sigkill"
	bugClearNotDurable  = "clear-not-durable"
	bugOctetStream      = "octet-stream"
	bugNoFsync          = "no-fsync"
	bugNoDirFsync       = "no-dir-fsync"
)

var knownBugs = []string{
	bugEmptyValue, bugDeleteMissing404, bugNo405, bugCaseFold, bugRacy,
	bugMemoryOnly, bugSIGTERMOnly, bugLostOnSIGKILL, bugClearNotDurable, bugOctetStream,
	bugNoFsync, bugNoDirFsync,
}

// parseBug checks a KV_BUG value: empty for a correct server, or one of
// knownBugs.
func parseBug(s string) (string, error) {
	if s == "" || slices.Contains(knownBugs, s) {
		return s, nil
	}
	return "", fmt.Errorf("unknown KV_BUG %q; known values: %s (unset for no bug)", s, strings.Join(knownBugs, ", "))
}

// listenAddr turns ADDR into the address to listen on: every interface, on
// ADDR's port.
func listenAddr(addr string) (string, error) {
	if addr == "" {
		return ":8080", nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("ADDR %q is not ip:port: %w", addr, err)
	}
	return ":" + port, nil
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("kv: ")
	if err := run(); err != nil {
		log.Printf("%v", err)
		os.Exit(1)
	}
}

func run() error {
	bug, err := parseBug(os.Getenv("KV_BUG"))
	if err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	listen, err := listenAddr(os.Getenv("ADDR"))
	if err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	dataDir := os.Getenv("DATA_DIR")
	if dataDir == "" {
		dataDir = "."
	}
	if bug != "" {
		log.Printf("planted bug %q is switched on", bug)
	}

	store, err := Open(dataDir, bug)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		store.Close()
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	srv := &http.Server{
		Handler:           NewHandler(store, bug),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("serving on %s with data in %s (%d keys)", ln.Addr(), dataDir, store.Len())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case sig := <-sigs:
		log.Printf("%v: shutting down", sig)
	case err := <-served:
		store.Close()
		return fmt.Errorf("serve: %w", err)
	}

	// Let requests in flight finish, so that a write the client sees
	// acknowledged is also one the store has logged, then close the store.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	shutdownErr := srv.Shutdown(ctx)
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("serve: %v", err)
	}
	if err := store.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	log.Printf("stopped")
	return nil
}
