package netd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

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
	case "count":
		peers, err := parseAddrs("count", req.Peers)
		if err != nil {
			return Response{Error: err.Error()}
		}
		return errorResponse(setCounting(0, peers))
	case "traffic":
		sent, err := readCounting(0)
		if err != nil {
			return Response{Error: err.Error()}
		}
		return Response{Sent: sent}
	case "uncount":
		return errorResponse(stopCounting(0))
	}
	return Response{Error: fmt.Sprintf("unknown op %q", req.Op)}
}

// errorResponse is the answer of an op that returns nothing but its
// error.
func errorResponse(err error) Response {
	if err != nil {
		return Response{Error: err.Error()}
	}
	return Response{}
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
