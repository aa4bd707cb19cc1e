// Package netd is the network daemon clstr runs beside every node.
//
// Each node of a cluster lives in a network namespace held by a small
// sandbox container of clstr's own; the user's container joins it. The
// sandbox's process is this daemon: it holds CAP_NET_ADMIN (the user's
// process never does), keeps the namespace alive across kills and restarts
// of the node, and programs partitions and impairments on request. The
// runner talks to it by executing "clstr-netd ctl REQUEST" inside the
// sandbox, which forwards the request over a Unix socket that only the
// sandbox's file system can see.
package netd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// SocketPath is where the daemon listens inside the sandbox container.
const SocketPath = "/run/clstr-netd.sock"

// Request is one command to the daemon.
type Request struct {
	// Op is "ping", "partition", "impair", "repair", "stats", "probe"
	// or "lockdown".
	Op string `json:"op"`
	// Block lists the IPv4 addresses a "partition" cuts off; empty heals.
	Block []string `json:"block,omitempty"`
	// Impairments is what "impair" applies to outgoing traffic.
	Impairments cluster.Impairments `json:"impairments,omitempty"`
	// Towards, if set, limits "impair" to the traffic sent to these IPv4
	// addresses.
	Towards []string `json:"towards,omitempty"`
	// Lockdown is what "lockdown" lets a sandboxed node reach.
	Lockdown *Lockdown `json:"lockdown,omitempty"`
}

// Response is the daemon's answer.
type Response struct {
	Error string `json:"error,omitempty"`
	// Path says how impairments are applied ("netem", "nftables+nfqueue").
	Path string `json:"path,omitempty"`
	// Support says, for "probe", which ways of impairing traffic the
	// kernel offers in this namespace, and why not where it does not.
	Support string `json:"support,omitempty"`
	// Shaper says, for "repair" and "stats", what the impairments did to
	// the traffic where the Impairer counts it (the userspace shaper and
	// nftables rules; netem keeps its own counts): for "repair", what
	// the impairments just removed did.
	Shaper *ShaperStats `json:"shaper,omitempty"`
}

// ShaperStats counts what impairments did to a namespace's outgoing
// packets.
type ShaperStats struct {
	// Path is how they were applied ("nftables+nfqueue", "nftables").
	Path string `json:"path"`
	// Seen packets reached the shaper; Delayed waited, Reordered went at
	// once past waiting ones, Duplicated were sent twice, Dropped were
	// lost, Bypassed passed unshaped because the shaper's queue was full
	// or nothing read it, Late were released over a millisecond late.
	Seen       uint64 `json:"seen"`
	Delayed    uint64 `json:"delayed"`
	Dropped    uint64 `json:"dropped"`
	Duplicated uint64 `json:"duplicated"`
	Reordered  uint64 `json:"reordered"`
	Bypassed   uint64 `json:"bypassed"`
	Late       uint64 `json:"late"`
	// Error says why the shaper stopped on its own, if it did.
	Error string `json:"error,omitempty"`
}

// String reads as a line of the event log: "shaper saw 1234 packets: 240
// dropped, 994 delayed, 12 duplicated, 0 reordered, 0 bypassed".
func (s ShaperStats) String() string {
	var out string
	if s.Path == "nftables" {
		out = fmt.Sprintf("nftables dropped %d packets", s.Dropped)
	} else {
		out = fmt.Sprintf("shaper saw %d packets: %d dropped, %d delayed, %d duplicated, %d reordered, %d bypassed",
			s.Seen, s.Dropped, s.Delayed, s.Duplicated, s.Reordered, s.Bypassed)
	}
	if s.Late > 0 {
		out += fmt.Sprintf(", %d late", s.Late)
	}
	if s.Error != "" {
		out += "; the shaper stopped: " + s.Error
	}
	return out
}

// A StatsReporter is an Impairer that counts what it does to the traffic.
type StatsReporter interface {
	// ShaperStats reports what the impairments in place, or else the ones
	// the last Clear removed, did; nil when it has nothing to report.
	ShaperStats() *ShaperStats
}

// Prober is an Impairer that can say what the kernel supports.
type Prober interface {
	Probe() string
}

// Impairer applies impairments to the namespace's outgoing traffic: all of
// it, or with towards the traffic sent to those addresses only.
type Impairer interface {
	Apply(ctx context.Context, imps cluster.Impairments, towards []netip.Addr) (path string, err error)
	Clear() error
}

// Main runs the netd command line: "serve" or "ctl REQUEST-JSON". It
// returns the process exit status.
func Main(args []string, impairer Impairer) int {
	if len(args) >= 1 && args[0] == "serve" {
		if err := serve(SocketPath, impairer); err != nil {
			fmt.Fprintln(os.Stderr, "clstr-netd:", err)
			return 1
		}
		return 0
	}
	if len(args) == 2 && args[0] == "ctl" {
		resp, err := call(SocketPath, []byte(args[1]))
		if err != nil {
			fmt.Fprintln(os.Stderr, "clstr-netd:", err)
			return 1
		}
		out, _ := json.Marshal(resp)
		fmt.Println(string(out))
		if resp.Error != "" {
			return 1
		}
		return 0
	}
	if len(args) == 2 && args[0] == "du" {
		n, err := DirSize(args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "clstr-netd:", err)
			return 1
		}
		fmt.Println(n)
		return 0
	}
	fmt.Fprintln(os.Stderr, "usage: clstr-netd serve | clstr-netd ctl REQUEST-JSON | clstr-netd du DIR")
	return 2
}

// DirSize returns the sum of the sizes of the regular files under dir,
// which is what "clstr-netd du DIR" prints: the runner measures a node's
// DATA_DIR with it, from a helper container that mounts the node's volume
// read-only.
func DirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			// A file the node removed while it was being walked is no
			// longer part of its size.
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	return total, err
}

// daemon holds the namespace's fault state.
type daemon struct {
	mu       sync.Mutex // serialises requests; guards nothing else
	impairer Impairer
}

func serve(path string, impairer Impairer) error {
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	d := &daemon{impairer: impairer}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return d.cleanup()
			}
			return fmt.Errorf("accept: %w", err)
		}
		d.handle(ctx, conn)
	}
}

func (d *daemon) cleanup() error {
	err := setPartition(nil)
	if d.impairer != nil {
		err = errors.Join(err, d.impairer.Clear())
	}
	return err
}

func (d *daemon) handle(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var req Request
	var resp Response
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&req); err != nil {
		resp.Error = fmt.Sprintf("bad request: %v", err)
	} else {
		d.mu.Lock()
		resp = d.do(ctx, req)
		d.mu.Unlock()
	}
	_ = json.NewEncoder(conn).Encode(resp)
}

func (d *daemon) do(ctx context.Context, req Request) Response {
	switch req.Op {
	case "ping":
		return Response{}
	case "partition":
		addrs, err := parseAddrs("partition", req.Block)
		if err != nil {
			return Response{Error: err.Error()}
		}
		if err := setPartition(addrs); err != nil {
			return Response{Error: err.Error()}
		}
		return Response{}
	case "impair":
		if d.impairer == nil {
			return Response{Error: "this clstr-netd cannot impair traffic"}
		}
		if err := req.Impairments.Validate(); err != nil {
			return Response{Error: err.Error()}
		}
		towards, err := parseAddrs("impair towards", req.Towards)
		if err != nil {
			return Response{Error: err.Error()}
		}
		path, err := d.impairer.Apply(ctx, req.Impairments, towards)
		if err != nil {
			return Response{Error: err.Error()}
		}
		return Response{Path: path}
	case "lockdown":
		if req.Lockdown == nil {
			return Response{Error: "lockdown: say the cluster's subnet and gateway"}
		}
		if err := setLockdown(0, *req.Lockdown); err != nil {
			return Response{Error: err.Error()}
		}
		return Response{}
	case "probe":
		p, ok := d.impairer.(Prober)
		if !ok {
			return Response{Error: "this clstr-netd cannot probe the kernel"}
		}
		return Response{Support: p.Probe()}
	case "repair":
		if d.impairer == nil {
			return Response{}
		}
		if err := d.impairer.Clear(); err != nil {
			return Response{Error: err.Error()}
		}
		return Response{Shaper: d.shaperStats()}
	case "stats":
		return Response{Shaper: d.shaperStats()}
	}
	return Response{Error: fmt.Sprintf("unknown op %q", req.Op)}
}

// parseAddrs reads the IP addresses of a request.
func parseAddrs(what string, ss []string) ([]netip.Addr, error) {
	addrs := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

func (d *daemon) shaperStats() *ShaperStats {
	if r, ok := d.impairer.(StatsReporter); ok {
		return r.ShaperStats()
	}
	return nil
}

// call sends one request to the daemon, retrying the connection briefly
// while the daemon starts.
func call(path string, req []byte) (Response, error) {
	var conn net.Conn
	var err error
	for deadline := time.Now().Add(3 * time.Second); ; {
		conn, err = net.Dial("unix", path)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return Response{}, fmt.Errorf("daemon not reachable: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write(append(req, '\n')); err != nil {
		return Response{}, fmt.Errorf("send request: %w", err)
	}
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil && !errors.Is(err, io.EOF) {
		return Response{}, fmt.Errorf("read response: %w", err)
	}
	return resp, nil
}
