// Command gossip is a node of clstr's gossip challenge: a broadcast set
// and a counter, spread among the nodes by gossip.
//
// Every node answers POST /broadcast {"message": n}, GET /read →
// {"messages": [...]}, POST /add {"delta": n} and GET /counter →
// {"value": n}, and keeps what it acknowledged in DATA_DIR before it
// answers. A broadcast message goes to one hub node, which passes what it
// gathered during a tick on to every node in one request each; the node
// that took the message sends it to the peers itself if the hub does not
// confirm in time. Counter sums go to every peer, every tick, when they
// changed. What a partition or a crash stopped is sent again on a later
// tick.
//
// Environment:
//
//	ADDR         the node's ip:port and identity; it listens on its port (default :8080)
//	PEERS        the other nodes' ip:port, comma-separated
//	DATA_DIR     where the state lives (default: nowhere, memory only)
//	GOSSIP_TICK  how often a node sends its peers what they lack: the hub's batching window (default 200ms)
//	GOSSIP_BUG   plants one of the bugs listed in README.md; unset for none
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

// The planted bugs, switched on with GOSSIP_BUG. README.md says what each
// does.
const (
	bugNoRetry          = "no-retry"
	bugFlood            = "flood"
	bugDoubleCount      = "double-count"
	bugForgetDecrements = "forget-decrements"
)

var knownBugs = []string{bugNoRetry, bugFlood, bugDoubleCount, bugForgetDecrements}

// parseBug checks a GOSSIP_BUG value: empty for a correct node, or one of
// knownBugs.
func parseBug(s string) (string, error) {
	if s == "" || slices.Contains(knownBugs, s) {
		return s, nil
	}
	return "", fmt.Errorf("unknown GOSSIP_BUG %q; known values: %s (unset for no bug)", s, strings.Join(knownBugs, ", "))
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("gossip: ")
	if err := run(); err != nil {
		log.Printf("%v", err)
		os.Exit(1)
	}
}

func run() error {
	bug, err := parseBug(os.Getenv("GOSSIP_BUG"))
	if err != nil {
		return err
	}
	self := os.Getenv("ADDR")
	listen := ":8080"
	if self != "" {
		_, port, err := net.SplitHostPort(self)
		if err != nil {
			return fmt.Errorf("ADDR %q is not ip:port: %w", self, err)
		}
		listen = ":" + port
	}
	tick := defaultTick
	if s := os.Getenv("GOSSIP_TICK"); s != "" {
		if tick, err = time.ParseDuration(s); err != nil || tick <= 0 {
			return fmt.Errorf("GOSSIP_TICK %q is not a positive duration such as 200ms", s)
		}
	}
	var peers []string
	for _, p := range strings.Split(os.Getenv("PEERS"), ",") {
		if p = strings.TrimSpace(p); p != "" && p != self {
			peers = append(peers, p)
		}
	}
	n, err := NewNode(Config{Self: self, Peers: peers, Dir: os.Getenv("DATA_DIR"), Bug: bug, Tick: tick})
	if err != nil {
		return fmt.Errorf("load the state: %w", err)
	}
	srv := &http.Server{Addr: listen, Handler: n.Handler(), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe() }()
	log.Printf("listening on %s as %s with %d peers, hub %s, tick %v%s", listen, self, len(peers), n.hub, n.tick, bugNote(bug))
	select {
	case err := <-errs:
		n.Close()
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("shutdown: %v", err)
	}
	return n.Close()
}

func bugNote(bug string) string {
	if bug == "" {
		return ""
	}
	return " (planted bug: " + bug + ")"
}
