// Command raft is a node of a Raft-replicated key-value store that follows
// clstr's node contract and the raft stages leader-election and
// log-replication: GET /cluster/info, followers redirect clients to the
// leader with 307, writes answer once committed on a majority, reads
// confirm leadership first, GET /log shows the log.
//
// The Raft implementation is its own and uses only the standard library:
// elections with pre-vote and check-quorum, log replication with
// conflict skipping, and currentTerm, votedFor and the log fsynced in
// DATA_DIR before they count.
//
// Environment:
//
//	ADDR                        this node's ip:port and identity (default 127.0.0.1:8080)
//	PEERS                       the other nodes' ip:port, comma-separated
//	CLUSTER                     the initial configuration's ip:port, comma-separated; a node
//	                            not in it starts outside the cluster and waits to be added
//	DATA_DIR                    where the state and log live (default the working directory)
//	RAFT_ELECTION_TIMEOUT_MIN   default 500ms
//	RAFT_ELECTION_TIMEOUT_MAX   default 1000ms
//	RAFT_HEARTBEAT_INTERVAL     default 100ms
//	RAFT_RPC_TIMEOUT            one AppendEntries call, default 300ms
//	RAFT_CLIENT_TIMEOUT         how long a client request waits for a majority, default 3s
//	RAFT_SNAPSHOT_EVERY         applied entries beyond the snapshot that make a new one, default 1000
//	RAFT_BUG                    plants one of the bugs listed in README.md
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
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The planted bugs, switched on with RAFT_BUG. README.md says what each does.
const (
	bugTwoLeaders      = "two-leaders"
	bugNoRedirect      = "no-redirect"
	bugMinorityLeader  = "minority-leader"
	bugIgnoreDelayed   = "ignore-delayed"
	bugAckBeforeCommit = "ack-before-commit"
	bugLeaseReads      = "lease-reads"
	bugTickLease       = "tick-lease"
	bugRevote          = "revote"

	bugSnapshotNoTerm      = "snapshot-no-term"
	bugLogNeverShrinks     = "log-never-shrinks"
	bugNoInstallSnapshot   = "no-install-snapshot"
	bugSnapshotWithoutData = "snapshot-without-data"

	bugCountBeforeCaughtUp = "count-before-caught-up"
	bugRemovedDisrupts     = "removed-disrupts"
	bugLeaderStays         = "leader-stays"

	bugSkipJoint       = "skip-joint"
	bugNewMajorityOnly = "new-majority-only"
)

var knownBugs = []string{
	bugTwoLeaders, bugNoRedirect, bugMinorityLeader, bugIgnoreDelayed, bugAckBeforeCommit, bugLeaseReads, bugTickLease, bugRevote,
	bugSnapshotNoTerm, bugLogNeverShrinks, bugNoInstallSnapshot, bugSnapshotWithoutData,
	bugCountBeforeCaughtUp, bugRemovedDisrupts, bugLeaderStays,
	bugSkipJoint, bugNewMajorityOnly,
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	cfg, err := configFromEnv(os.Getenv)
	if err != nil {
		log.Printf("raft: refusing to start: %v", err)
		os.Exit(1)
	}
	log.SetPrefix("raft " + cfg.Addr + ": ")
	if err := run(cfg); err != nil {
		log.Printf("%v", err)
		os.Exit(1)
	}
}

// configFromEnv reads the node's configuration; getenv is os.Getenv
// outside tests.
func configFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Addr:    getenv("ADDR"),
		DataDir: getenv("DATA_DIR"),
		Bug:     getenv("RAFT_BUG"),
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return cfg, fmt.Errorf("ADDR %q is not ip:port: %w", cfg.Addr, err)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "."
	}
	if cfg.Bug != "" && !slices.Contains(knownBugs, cfg.Bug) {
		return cfg, fmt.Errorf("unknown RAFT_BUG %q; known values: %s (unset for no bug)", cfg.Bug, strings.Join(knownBugs, ", "))
	}
	cfg.SnapshotEvery = 1000
	if v := getenv("RAFT_SNAPSHOT_EVERY"); v != "" {
		every, err := strconv.ParseInt(v, 10, 64)
		if err != nil || every < 1 {
			return cfg, fmt.Errorf("RAFT_SNAPSHOT_EVERY=%q is not a positive number of entries such as 1000", v)
		}
		cfg.SnapshotEvery = every
	}
	for p := range strings.SplitSeq(getenv("PEERS"), ",") {
		p = strings.TrimSpace(p)
		if p == "" || p == cfg.Addr || slices.Contains(cfg.Peers, p) {
			continue
		}
		if _, _, err := net.SplitHostPort(p); err != nil {
			return cfg, fmt.Errorf("PEERS entry %q is not ip:port: %w", p, err)
		}
		cfg.Peers = append(cfg.Peers, p)
	}
	slices.Sort(cfg.Peers)
	// CLUSTER, the initial configuration, tells a node started outside it
	// that it is not a member; without it, the configuration is ADDR and
	// PEERS.
	for p := range strings.SplitSeq(getenv("CLUSTER"), ",") {
		p = strings.TrimSpace(p)
		if p == "" || slices.Contains(cfg.Members, p) {
			continue
		}
		if _, _, err := net.SplitHostPort(p); err != nil {
			return cfg, fmt.Errorf("CLUSTER entry %q is not ip:port: %w", p, err)
		}
		cfg.Members = append(cfg.Members, p)
	}
	if cfg.Members == nil {
		cfg.Members = append([]string{cfg.Addr}, cfg.Peers...)
	}
	slices.Sort(cfg.Members)

	durations := []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{"RAFT_ELECTION_TIMEOUT_MIN", &cfg.ElectionTimeoutMin, 500 * time.Millisecond},
		{"RAFT_ELECTION_TIMEOUT_MAX", &cfg.ElectionTimeoutMax, 1000 * time.Millisecond},
		{"RAFT_HEARTBEAT_INTERVAL", &cfg.HeartbeatInterval, 100 * time.Millisecond},
		{"RAFT_RPC_TIMEOUT", &cfg.RPCTimeout, 300 * time.Millisecond},
		{"RAFT_CLIENT_TIMEOUT", &cfg.ClientTimeout, 3 * time.Second},
	}
	for _, d := range durations {
		*d.dst = d.def
		s := getenv(d.name)
		if s == "" {
			continue
		}
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 {
			return cfg, fmt.Errorf("%s=%q is not a positive duration such as 500ms", d.name, s)
		}
		*d.dst = v
	}
	switch {
	case cfg.ElectionTimeoutMax < cfg.ElectionTimeoutMin:
		return cfg, fmt.Errorf("RAFT_ELECTION_TIMEOUT_MAX (%v) is below RAFT_ELECTION_TIMEOUT_MIN (%v)", cfg.ElectionTimeoutMax, cfg.ElectionTimeoutMin)
	case cfg.HeartbeatInterval >= cfg.ElectionTimeoutMin:
		return cfg, fmt.Errorf("RAFT_HEARTBEAT_INTERVAL (%v) must be below RAFT_ELECTION_TIMEOUT_MIN (%v), or followers time out between heartbeats", cfg.HeartbeatInterval, cfg.ElectionTimeoutMin)
	case cfg.RPCTimeout >= cfg.ElectionTimeoutMin:
		return cfg, fmt.Errorf("RAFT_RPC_TIMEOUT (%v) must be below RAFT_ELECTION_TIMEOUT_MIN (%v), or a slow peer holds up heartbeats past an election timeout", cfg.RPCTimeout, cfg.ElectionTimeoutMin)
	}
	return cfg, nil
}

func run(cfg Config) error {
	if cfg.Bug != "" {
		log.Printf("planted bug %q is switched on", cfg.Bug)
	}
	n, err := NewNode(cfg)
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(cfg.Addr)
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		n.Stop()
		return fmt.Errorf("listen on :%s: %w", port, err)
	}
	srv := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	n.Start()
	log.Printf("serving on %s; peers %v; election timeout %v–%v, heartbeat %v",
		ln.Addr(), cfg.Peers, cfg.ElectionTimeoutMin, cfg.ElectionTimeoutMax, cfg.HeartbeatInterval)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	select {
	case sig := <-sigs:
		log.Printf("%v: shutting down", sig)
	case err := <-served:
		n.Stop()
		return fmt.Errorf("serve: %w", err)
	}
	// Client requests in flight end within ClientTimeout; peers' calls
	// are short. Everything to remember is on disk already.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ClientTimeout+time.Second)
	defer cancel()
	shutdownErr := srv.Shutdown(ctx)
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("serve: %v", err)
	}
	if err := n.Stop(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	log.Printf("stopped")
	return nil
}
