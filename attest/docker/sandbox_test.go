package docker

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dialFrom asks the test node name to make one connection attempt to addr
// from inside its network namespace, and returns how it ended ("" for a
// success).
func dialFrom(t *testing.T, c *dockerCluster, name, network, addr string) string {
	t.Helper()
	var out struct {
		Error string `json:"error"`
	}
	getJSON(t, c, name, "/probe/dial?"+url.Values{"net": {network}, "addr": {addr}}.Encode(), &out)
	return out.Error
}

// gatewayListener listens on the cluster network's gateway address, which
// is this machine's end of the Docker bridge: a node that can reach it
// could reach any service of the host.
func gatewayListener(t *testing.T, c *dockerCluster) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(c.subnet.Addr().Next().String(), "0"))
	if err != nil {
		t.Fatalf("listen on the gateway address: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	return ln.Addr().String()
}

// refusedOnTheWayOut reports whether a probe's error is the lockdown's
// answer rather than a timeout or a refusal by the far end.
func refusedOnTheWayOut(msg string) bool {
	for _, s := range []string{"no route to host", "not permitted", "permission denied"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// TestSandboxConfinesNodes starts a sandboxed cluster of the test node and
// checks, through the Docker API, how its containers are set up, and from
// inside a node that it reaches its peers and nothing else — probing only
// this machine's end of the cluster network and Docker's DNS address
// inside the node's own namespace. A trusted cluster is the control: the
// same probes get through there.
func TestSandboxConfinesNodes(t *testing.T) {
	t.Run("trusted", func(t *testing.T) {
		c, _ := testCluster(t, 1, Options{})
		if msg := dialFrom(t, c, "n1", "tcp", gatewayListener(t, c)); msg != "" {
			t.Fatalf("a trusted node cannot reach the gateway: %s; the sandboxed case below proves nothing", msg)
		}
	})

	limits := SandboxLimits{Memory: 256 << 20, CPUs: 0.5, Pids: 64}
	c, _ := testCluster(t, 2, Options{Sandbox: &limits})
	ctx := context.Background()
	for _, n := range c.nodes {
		ct, err := c.rt.cli.ContainerInspect(ctx, n.containerID)
		if err != nil {
			t.Fatal(err)
		}
		hc := ct.HostConfig
		if !slices.Equal(hc.CapDrop, []string{"ALL"}) || len(hc.CapAdd) > 0 || hc.Privileged {
			t.Errorf("%s: capabilities drop %v, add %v, privileged %v; want all dropped", n.name, hc.CapDrop, hc.CapAdd, hc.Privileged)
		}
		if !slices.Contains(hc.SecurityOpt, "no-new-privileges") {
			t.Errorf("%s: security options %v; want no-new-privileges", n.name, hc.SecurityOpt)
		}
		if hc.Memory != limits.Memory || hc.MemorySwap != limits.Memory || hc.NanoCPUs != 5e8 || hc.PidsLimit == nil || *hc.PidsLimit != limits.Pids {
			t.Errorf("%s: memory %d (swap %d), nano CPUs %d, pids %v; want %+v", n.name, hc.Memory, hc.MemorySwap, hc.NanoCPUs, hc.PidsLimit, limits)
		}
		if len(ct.Mounts) != 1 || ct.Mounts[0].Type != "volume" || ct.Mounts[0].Destination != dataDir || len(hc.Binds) > 0 {
			t.Errorf("%s: mounts %+v, binds %v; want only the data volume", n.name, ct.Mounts, hc.Binds)
		}
		sb, err := c.rt.cli.ContainerInspect(ctx, n.sandboxID)
		if err != nil {
			t.Fatal(err)
		}
		if sb.HostConfig.Privileged || !slices.Contains(sb.HostConfig.SecurityOpt, "no-new-privileges") || sb.HostConfig.Memory == 0 {
			t.Errorf("%s: sandbox privileged %v, security options %v, memory %d", n.name, sb.HostConfig.Privileged, sb.HostConfig.SecurityOpt, sb.HostConfig.Memory)
		}
		for port, bindings := range sb.NetworkSettings.Ports {
			for _, b := range bindings {
				if b.HostIP != "127.0.0.1" {
					t.Errorf("%s: port %s published on %s; want 127.0.0.1 only", n.name, port, b.HostIP)
				}
			}
		}
	}

	gateway := gatewayListener(t, c)
	probe := func(t *testing.T) {
		var peers map[string]struct{ TCP, UDP bool }
		getJSON(t, c, "n1", "/probe", &peers)
		for p, r := range peers {
			if !r.TCP || !r.UDP {
				t.Errorf("n1 reaches its peer %s: tcp %v, udp %v; want both", p, r.TCP, r.UDP)
			}
		}
		msg := dialFrom(t, c, "n1", "tcp", gateway)
		t.Logf("n1 → the host at %s: %s", gateway, msg)
		if !refusedOnTheWayOut(msg) {
			t.Errorf("n1 → the host at %s: %q; want it refused on the way out", gateway, msg)
		}
		msg = dialFrom(t, c, "n1", "udp", "127.0.0.11:53")
		t.Logf("n1 → Docker's DNS: %s", msg)
		if !refusedOnTheWayOut(msg) {
			t.Errorf("n1 → Docker's DNS: %q; want it refused on the way out", msg)
		}
	}
	t.Run("probes", probe)
	// The rules belong to the sandbox's namespace: a restarted node is
	// still locked in.
	if err := c.Kill(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, c, "n1")
	t.Run("probes after a restart", probe)
}

// TestSandboxedKVStore runs the example kv store, built static, in a
// sandboxed cluster: a real target works without any capability.
func TestSandboxedKVStore(t *testing.T) {
	dockerOrSkip(t)
	bin := filepath.Join(t.TempDir(), "kv")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../../examples/kv")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build examples/kv: %v\n%s", err, out)
	}
	limits := DefaultSandboxLimits()
	c, _ := testCluster(t, 1, Options{Binary: bin, Sandbox: &limits})
	u, err := c.URL("n1")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, u+"/kv/sandboxed", strings.NewReader("yes"))
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	// Written to DATA_DIR, it survives a kill.
	ctx := context.Background()
	if err := c.Kill(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, c, "n1")
	resp, err = httpClient.Get(u + "/kv/sandboxed")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "yes" {
		t.Errorf("GET after a kill: %d %q; want 200 \"yes\"", resp.StatusCode, b)
	}
	ct, err := c.rt.cli.ContainerInspect(ctx, c.nodes[0].containerID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ct.HostConfig.CapDrop, []string{"ALL"}) {
		t.Errorf("cap drop %v", ct.HostConfig.CapDrop)
	}
}
