// Command testnode is the small node program clstr's own end-to-end tests
// run as a cluster. It follows the node contract (ADDR, PEERS, CLUSTER,
// DATA_DIR, GET /health) and reports what it sees: how its previous run ended, and
// which peers it can reach over TCP and UDP.
//
// Endpoints:
//
//	GET  /health               200 once serving; 503 while DATA_DIR holds a
//	                           file named unhealthy (PUT /data/unhealthy)
//	GET  /info                 {"addr", "peers", "cluster", "data_dir", "previous", "starts", "pid"}
//	PUT  /data/{name}          writes the body to DATA_DIR/name, fsynced
//	ANY  /echo                 {"method", "body", "headers", "node"} (nodehttp)
//	GET  /sleep?d=D            answers after D (at most 1m)
//	GET  /status/{code}        answers with that status and "status <code>" (nodehttp)
//	GET  /redirect             307 to /echo (nodehttp)
//	GET  /probe                {"<peer>": {"tcp": bool, "udp": bool}} for every peer
//	GET  /probe/udp?peer=ADDR&n=N&interval=D&wait=D
//	                           sends N numbered UDP datagrams to peer's echo,
//	                           one every interval, waits up to wait after the
//	                           last reply; reports received, duplicates,
//	                           reordered and round-trip times (ms, sorted)
//	GET  /probe/tcp?peer=ADDR&n=N&timeout=D   N sequential GET /health to
//	                           peer over one kept-alive connection, each
//	                           within timeout (default 5s); reports the rtts
//	                           (ms) and how many failed
//	GET  /probe/send?peer=ADDR&n=N&interval=D&size=S
//	                           sends N one-way UDP datagrams to peer, which
//	                           counts them and answers nothing; each of S
//	                           bytes (16 to 1472) when S is given
//	GET  /received             {"<sender ip>": count} of the one-way
//	                           datagrams received since the node started
//	GET  /probe/dial?net=tcp|udp&addr=IP:PORT&timeout=D
//	                           one TCP connect (within timeout, default
//	                           2s), or one UDP datagram and a short wait
//	                           for an answer, to addr; reports
//	                           {"error": why it failed, or ""}; tests aim it
//	                           only at their own nodes and this machine
//	ANY  /kv/{key}             PUT stores, GET reads (in memory)
//	POST /fs                   applies a JSON list of file operations
//	                           ({"op", "path", "to", "data"}, see fsOp) in
//	                           DATA_DIR, in order
//	GET  /fs?dir=D             {"<path>": content} of the files under
//	                           DATA_DIR/D; directories end in "/"
//	GET  /fs/bench?n=N         appends N blocks of 4 KiB to a file in
//	                           DATA_DIR, each fsynced; {"ns_per_op"}
//	GET  /privileges           {"CapEff", "CapPrm", "CapBnd", …, "Uid",
//	                           "NoNewPrivs", "mount_error", "fuse_fds"}:
//	                           capability sets, why mounting a tmpfs
//	                           failed, descriptors of /dev/fuse
//	POST /exit                 exits with status 3
//
// Environment switches for tests: TESTNODE_IGNORE_SIGTERM=1 ignores
// SIGTERM; TESTNODE_UNHEALTHY=1 answers /health with 503;
// TESTNODE_SAVE_ON_SHUTDOWN=1 records "sigterm" only once
// http.Server.Shutdown has returned, as a server that saves its data on
// Shutdown.
//
// "previous" is "first" on a fresh DATA_DIR, "sigterm" when the last run
// exited through its SIGTERM handler, and "killed" when it did not exit
// cleanly (SIGKILL).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/clstr-dev/clstr/internal/testkit/nodehttp"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("testnode: ")
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		log.Fatalf("bad ADDR %q: %v", addr, err)
	}
	var peers []string
	if p := os.Getenv("PEERS"); p != "" {
		peers = strings.Split(p, ",")
	}
	dataDir := os.Getenv("DATA_DIR")
	if dataDir == "" {
		dataDir = "."
	}

	var members []string
	if c := os.Getenv("CLUSTER"); c != "" {
		members = strings.Split(c, ",")
	}
	n := &node{addr: addr, peers: peers, members: members, dataDir: dataDir, kv: map[string]string{}, received: map[string]int{}}
	n.previous, n.starts = n.recordStart()
	log.Printf("started as %s (start %d, previous run: %s)", addr, n.starts, n.previous)

	udp, err := net.ListenPacket("udp", ":"+port)
	if err != nil {
		log.Fatalf("udp: %v", err)
	}
	go n.echoUDP(udp)

	srv := &http.Server{Addr: ":" + port, Handler: n.routes()}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		for range sigs {
			if os.Getenv("TESTNODE_IGNORE_SIGTERM") == "1" {
				log.Printf("ignoring SIGTERM")
				continue
			}
			if os.Getenv("TESTNODE_SAVE_ON_SHUTDOWN") == "1" {
				// As a server that flushes its data once Shutdown has
				// let every connection finish: a connection that never
				// carries a request holds Shutdown up to 5s.
				log.Printf("got SIGTERM, shutting down")
				srv.Shutdown(context.Background())
			}
			n.writeState("sigterm")
			log.Printf("got SIGTERM, exiting")
			os.Exit(0)
		}
	}()

	err = srv.ListenAndServe()
	if errors.Is(err, http.ErrServerClosed) {
		select {} // the signal handler exits
	}
	log.Fatal(err)
}

type node struct {
	addr, dataDir string
	peers         []string
	members       []string // CLUSTER: the initial configuration
	previous      string
	starts        int

	mu       sync.Mutex // guards kv and received
	kv       map[string]string
	received map[string]int // one-way datagrams by sender IP
}

// recordStart reads how the previous run ended and marks this one running.
func (n *node) recordStart() (previous string, starts int) {
	b, _ := os.ReadFile(filepath.Join(n.dataDir, "state"))
	state, count, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	starts, _ = strconv.Atoi(count)
	switch state {
	case "":
		previous = "first"
	case "running":
		previous = "killed"
	default:
		previous = state
	}
	starts++
	n.starts = starts
	n.writeState("running")
	return previous, starts
}

func (n *node) writeState(state string) {
	path := filepath.Join(n.dataDir, "state")
	f, err := os.Create(path + ".tmp")
	if err != nil {
		log.Printf("state: %v", err)
		return
	}
	fmt.Fprintf(f, "%s %d\n", state, n.starts)
	f.Sync()
	f.Close()
	if err := os.Rename(path+".tmp", path); err != nil {
		log.Printf("state: %v", err)
	}
}

func (n *node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if _, err := os.Stat(filepath.Join(n.dataDir, "unhealthy")); err == nil || os.Getenv("TESTNODE_UNHEALTHY") == "1" {
			http.Error(w, "unhealthy on purpose", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) {
		nodehttp.WriteJSON(w, map[string]any{
			"addr": n.addr, "peers": n.peers, "cluster": n.members, "data_dir": n.dataDir,
			"previous": n.previous, "starts": n.starts, "pid": os.Getpid(),
		})
	})
	mux.HandleFunc("PUT /data/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if name != filepath.Base(name) || strings.HasPrefix(name, ".") {
			http.Error(w, "bad file name", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		f, err := os.Create(filepath.Join(n.dataDir, name))
		if err == nil {
			_, err = f.Write(body)
			err = errors.Join(err, f.Sync(), f.Close())
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	nodehttp.Route(mux, n.addr)
	mux.HandleFunc("POST /log", func(w http.ResponseWriter, r *http.Request) {
		// The body, as the node's own output: a node that logs what it
		// is sent.
		body, _ := io.ReadAll(r.Body)
		os.Stdout.Write(append(body, '\n'))
	})
	mux.HandleFunc("GET /sleep", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil || d > time.Minute {
			http.Error(w, "want d=DURATION of at most 1m", http.StatusBadRequest)
			return
		}
		time.Sleep(d)
	})
	mux.HandleFunc("GET /probe", n.probe)
	mux.HandleFunc("GET /probe/udp", n.probeUDP)
	mux.HandleFunc("GET /probe/tcp", n.probeTCP)
	mux.HandleFunc("GET /probe/dial", probeDial)
	mux.HandleFunc("GET /probe/send", n.probeSend)
	mux.HandleFunc("GET /received", func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		defer n.mu.Unlock()
		nodehttp.WriteJSON(w, n.received)
	})
	mux.HandleFunc("/kv/{key}", n.handleKV)
	mux.HandleFunc("POST /fs", n.runFS)
	mux.HandleFunc("GET /fs", n.listFS)
	mux.HandleFunc("GET /fs/bench", n.fsyncBench)
	mux.HandleFunc("GET /privileges", privileges)
	mux.HandleFunc("POST /exit", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("exiting on request")
		w.WriteHeader(http.StatusOK)
		go func() { time.Sleep(50 * time.Millisecond); os.Exit(3) }()
	})
	return mux
}

func (n *node) handleKV(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	switch r.Method {
	case http.MethodPut:
		body, _ := io.ReadAll(r.Body)
		n.mu.Lock()
		n.kv[key] = string(body)
		n.mu.Unlock()
	case http.MethodGet:
		n.mu.Lock()
		v, ok := n.kv[key]
		n.mu.Unlock()
		if !ok {
			http.Error(w, "key not found", http.StatusNotFound)
			return
		}
		io.WriteString(w, v)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// probe reports, for every peer, whether a TCP connection and a UDP echo
// get through within a short timeout.
func (n *node) probe(w http.ResponseWriter, r *http.Request) {
	type reach struct {
		TCP bool `json:"tcp"`
		UDP bool `json:"udp"`
	}
	out := map[string]reach{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range n.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := reach{TCP: dialTCP(p), UDP: pingUDP(p)}
			mu.Lock()
			out[p] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	nodehttp.WriteJSON(w, out)
}

const probeTimeout = 500 * time.Millisecond

// probeDial reports how one connection attempt to an address ends.
func probeDial(w http.ResponseWriter, r *http.Request) {
	network, addr := r.URL.Query().Get("net"), r.URL.Query().Get("addr")
	if network != "tcp" && network != "udp" {
		http.Error(w, "net must be tcp or udp", http.StatusBadRequest)
		return
	}
	timeout, err := time.ParseDuration(r.URL.Query().Get("timeout"))
	if err != nil || timeout <= 0 {
		timeout = 2 * time.Second
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err == nil {
		defer c.Close()
		if network == "udp" {
			c.SetDeadline(time.Now().Add(probeTimeout))
			if _, err = c.Write([]byte("ping")); err == nil {
				_, err = c.Read(make([]byte, 64))
			}
		}
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	nodehttp.WriteJSON(w, map[string]string{"error": msg})
}

func dialTCP(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func pingUDP(addr string) bool {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	buf := make([]byte, 64)
	for try := 0; try < 3; try++ {
		c.SetDeadline(time.Now().Add(probeTimeout / 3))
		if _, err := c.Write([]byte("ping")); err != nil {
			return false
		}
		if k, err := c.Read(buf); err == nil && string(buf[:k]) == "ping" {
			return true
		}
	}
	return false
}

// oneWay starts the datagrams of /probe/send, which are counted, not
// echoed.
const oneWay = "oneway "

// echoUDP answers every datagram with itself, except one-way ones, which
// it counts by sender.
func (n *node) echoUDP(pc net.PacketConn) {
	buf := make([]byte, 2048)
	for {
		k, from, err := pc.ReadFrom(buf)
		if err != nil {
			log.Printf("udp: %v", err)
			return
		}
		if strings.HasPrefix(string(buf[:k]), oneWay) {
			ip, _, _ := net.SplitHostPort(from.String())
			n.mu.Lock()
			n.received[ip]++
			n.mu.Unlock()
			continue
		}
		pc.WriteTo(buf[:k], from)
	}
}

// probeSend sends n one-way datagrams to a peer, one every interval.
func (n *node) probeSend(w http.ResponseWriter, r *http.Request) {
	c, count, interval, ok := n.dialProbe(w, r, time.Millisecond)
	if !ok {
		return
	}
	defer c.Close()
	size := 0
	if s := r.URL.Query().Get("size"); s != "" {
		// 1472 bytes fill a 1500-byte MTU: one packet each.
		if size, _ = strconv.Atoi(s); size < 16 || size > 1472 {
			http.Error(w, "size must be from 16 to 1472", http.StatusBadRequest)
			return
		}
	}
	failed := 0
	for i := 0; i < count; i++ {
		msg := []byte(oneWay + strconv.Itoa(i))
		for len(msg) < size {
			msg = append(msg, '.')
		}
		if _, err := c.Write(msg); err != nil {
			failed++
		}
		time.Sleep(interval)
	}
	nodehttp.WriteJSON(w, map[string]int{"sent": count, "failed": failed})
}

// dialProbe reads a UDP probe's peer, n (100 by default, at most 5000)
// and interval (def by default), and dials the peer; it answers the
// request itself and returns ok false when it cannot.
func (n *node) dialProbe(w http.ResponseWriter, r *http.Request, def time.Duration) (c net.Conn, count int, interval time.Duration, ok bool) {
	peer := r.URL.Query().Get("peer")
	count, _ = strconv.Atoi(r.URL.Query().Get("n"))
	if count <= 0 || count > 5000 {
		count = 100
	}
	interval, err := time.ParseDuration(r.URL.Query().Get("interval"))
	if err != nil || interval <= 0 {
		interval = def
	}
	if !n.isPeer(peer) {
		http.Error(w, "peer must be one of PEERS", http.StatusBadRequest)
		return nil, 0, 0, false
	}
	if c, err = net.Dial("udp", peer); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return nil, 0, 0, false
	}
	return c, count, interval, true
}

// probeUDP sends n numbered datagrams to a peer's UDP echo, one every
// interval, and reports what came back: how many, how many twice, how many
// out of order, and the round-trip times in milliseconds.
func (n *node) probeUDP(w http.ResponseWriter, r *http.Request) {
	wait, err := time.ParseDuration(r.URL.Query().Get("wait"))
	if err != nil || wait <= 0 {
		wait = time.Second
	}
	c, count, interval, ok := n.dialProbe(w, r, 2*time.Millisecond)
	if !ok {
		return
	}
	defer c.Close()

	var mu sync.Mutex // guards sent
	sent := make([]time.Time, count)
	seen := make([]int, count)
	var rtts []float64
	dups, reordered, highest := 0, 0, -1
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			c.SetReadDeadline(time.Now().Add(wait))
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			i, err := strconv.Atoi(string(buf[:k]))
			if err != nil || i < 0 || i >= count {
				continue
			}
			seen[i]++
			if seen[i] > 1 {
				dups++
				continue
			}
			if i < highest {
				reordered++
			} else {
				highest = i
			}
			mu.Lock()
			at := sent[i]
			mu.Unlock()
			rtts = append(rtts, float64(time.Since(at).Microseconds())/1000)
		}
	}()
	// Paced from the start, so that a sleep's overshoot does not add up
	// over the datagrams.
	start := time.Now()
	for i := 0; i < count; i++ {
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		c.Write([]byte(strconv.Itoa(i)))
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * interval)))
	}
	<-done
	sort.Float64s(rtts)
	nodehttp.WriteJSON(w, map[string]any{"sent": count, "received": len(rtts), "duplicates": dups, "reordered": reordered, "rtt_ms": rtts})
}

func (n *node) isPeer(addr string) bool {
	for _, p := range n.peers {
		if p == addr {
			return true
		}
	}
	return false
}

// probeTCP times n sequential requests to a peer over one connection.
func (n *node) probeTCP(w http.ResponseWriter, r *http.Request) {
	peer := r.URL.Query().Get("peer")
	count, _ := strconv.Atoi(r.URL.Query().Get("n"))
	if count <= 0 || count > 1000 {
		count = 20
	}
	timeout, err := time.ParseDuration(r.URL.Query().Get("timeout"))
	if err != nil || timeout <= 0 {
		timeout = 5 * time.Second
	}
	if !n.isPeer(peer) {
		http.Error(w, "peer must be one of PEERS", http.StatusBadRequest)
		return
	}
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	var rtts []float64
	failed := 0
	for i := 0; i < count; i++ {
		start := time.Now()
		resp, err := client.Get("http://" + peer + "/health")
		if err != nil {
			failed++
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		rtts = append(rtts, float64(time.Since(start).Microseconds())/1000)
	}
	sort.Float64s(rtts)
	nodehttp.WriteJSON(w, map[string]any{"sent": count, "failed": failed, "rtt_ms": rtts})
}
