package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// writeContext stores a docker context as the docker CLI does: its
// metadata under contexts/meta/<sha256 of the name>/meta.json.
func writeContext(t testing.TB, configDir, name, host string) {
	t.Helper()
	sum := sha256.Sum256([]byte(name))
	dir := filepath.Join(configDir, "contexts", "meta", hex.EncodeToString(sum[:]))
	must(t, os.MkdirAll(dir, 0o755))
	meta := map[string]any{
		"Name":      name,
		"Metadata":  map[string]any{"Description": "made by a test"},
		"Endpoints": map[string]any{"docker": map[string]any{"Host": host, "SkipTLSVerify": false}},
	}
	b, err := json.Marshal(meta)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "meta.json"), b, 0o644))
}

// writeCurrentContext writes a docker config.json whose current context
// is name.
func writeCurrentContext(t testing.TB, configDir, name string) {
	t.Helper()
	must(t, os.MkdirAll(configDir, 0o755))
	b, err := json.Marshal(map[string]any{"auths": map[string]any{}, "currentContext": name})
	must(t, err)
	must(t, os.WriteFile(filepath.Join(configDir, "config.json"), b, 0o644))
}

// TestResolveEndpointOrder checks the docker CLI's order: DOCKER_HOST,
// then DOCKER_CONTEXT, then the config's current context, then the
// default socket; and that a context that is not there, or that only ssh
// reaches, is one clear error.
func TestResolveEndpointOrder(t *testing.T) {
	home := t.TempDir()
	cfg := filepath.Join(home, ".docker")
	writeCurrentContext(t, cfg, "colima")
	writeContext(t, cfg, "colima", "unix:///home/u/.colima/default/docker.sock")
	writeContext(t, cfg, "orbstack", "unix:///home/u/.orbstack/run/docker.sock")
	writeContext(t, cfg, "far", "ssh://u@far.example")
	other := filepath.Join(t.TempDir(), "elsewhere")
	writeCurrentContext(t, other, "desktop-linux")
	writeContext(t, other, "desktop-linux", "unix:///home/u/.docker/run/docker.sock")
	lost := filepath.Join(t.TempDir(), "lost")
	writeCurrentContext(t, lost, "gone")
	empty := t.TempDir()

	tests := []struct {
		name      string
		env       map[string]string
		home      string
		host, src string
		err       string
	}{
		{name: "DOCKER_HOST wins over everything",
			env:  map[string]string{"DOCKER_HOST": "tcp://10.1.2.3:2375", "DOCKER_CONTEXT": "orbstack"},
			host: "tcp://10.1.2.3:2375", src: "DOCKER_HOST"},
		{name: "DOCKER_CONTEXT wins over the current context",
			env:  map[string]string{"DOCKER_CONTEXT": "orbstack"},
			host: "unix:///home/u/.orbstack/run/docker.sock", src: `docker context "orbstack" (DOCKER_CONTEXT)`},
		{name: "the current context in ~/.docker/config.json",
			host: "unix:///home/u/.colima/default/docker.sock",
			src:  `docker context "colima" (the current context in ` + filepath.Join(cfg, "config.json") + ")"},
		{name: "DOCKER_CONFIG moves the config",
			env:  map[string]string{"DOCKER_CONFIG": other},
			host: "unix:///home/u/.docker/run/docker.sock", src: `docker context "desktop-linux"`},
		{name: "the default context",
			env:  map[string]string{"DOCKER_CONTEXT": "default"},
			host: client.DefaultDockerHost, src: `docker context "default" (DOCKER_CONTEXT)`},
		{name: "no config at all",
			home: empty, host: client.DefaultDockerHost, src: "the default socket"},
		{name: "a context that does not exist",
			env: map[string]string{"DOCKER_CONTEXT": "nope"},
			err: `docker context "nope" (DOCKER_CONTEXT) does not exist`},
		{name: "a current context that does not exist",
			env: map[string]string{"DOCKER_CONFIG": lost},
			err: `docker context "gone" (the current context in ` + filepath.Join(lost, "config.json") + ") does not exist"},
		{name: "an ssh context",
			env: map[string]string{"DOCKER_CONTEXT": "far"},
			err: "reaches its daemon over ssh"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			h := home
			if tc.home != "" {
				h = tc.home
			}
			ep, err := resolveEndpoint(getenv, h)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("resolveEndpoint = %+v, %v; want an error saying %q", ep, err, tc.err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("the error is more than one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ep.Host != tc.host || !strings.HasPrefix(ep.Source, tc.src) {
				t.Errorf("resolveEndpoint = %q from %q; want %q from %q", ep.Host, ep.Source, tc.host, tc.src)
			}
		})
	}
}

// TestContextReachesDaemon points a docker context at this machine's
// daemon through another socket path (a link to it) and checks that
// clstr uses it: the client dials that path, and doctor names the
// context and runs its clstr-netd probe through it.
func TestContextReachesDaemon(t *testing.T) {
	dockerOrSkip(t)
	sock := filepath.Join(t.TempDir(), "d.sock")
	must(t, os.Symlink("/var/run/docker.sock", sock))
	cfg := filepath.Join(t.TempDir(), "docker-config")
	writeCurrentContext(t, cfg, "elsewhere")
	writeContext(t, cfg, "elsewhere", "unix://"+sock)
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_CONFIG", cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli, err := Connect(ctx)
	must(t, err)
	if got := cli.DaemonHost(); got != "unix://"+sock {
		t.Errorf("the client dials %s; want the context's unix://%s", got, sock)
	}
	cli.Close()

	d, err := Diagnose(ctx)
	must(t, err)
	if !strings.Contains(d.Endpoint, "unix://"+sock) || !strings.Contains(d.Endpoint, `docker context "elsewhere"`) {
		t.Errorf("doctor's endpoint is %q; want the context's socket and name", d.Endpoint)
	}
	if d.Impairments == "" {
		t.Errorf("doctor learnt nothing from clstr-netd through the context")
	}

	// A context whose socket is not there fails with the context named.
	writeContext(t, cfg, "elsewhere", "unix://"+filepath.Join(t.TempDir(), "none.sock"))
	_, err = Connect(ctx)
	if err == nil || !strings.Contains(err.Error(), `docker context "elsewhere"`) || !strings.Contains(err.Error(), "docker context use") {
		t.Errorf("Connect through a dead context: %v; want it to name the context and what to do", err)
	}
}

// TestResolveEndpointAgreesWithDockerCLI makes contexts with the docker
// CLI itself and checks that clstr picks the endpoint the CLI picks, for
// each way of choosing one.
func TestResolveEndpointAgreesWithDockerCLI(t *testing.T) {
	dockerCLI, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker CLI to compare with")
	}
	cfg := filepath.Join(t.TempDir(), "docker-config")
	cli := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command(dockerCLI, args...)
		cmd.Env = append(os.Environ(), append([]string{"DOCKER_CONFIG=" + cfg, "DOCKER_HOST=", "DOCKER_CONTEXT="}, env...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	cli(nil, "context", "create", "alpha", "--docker", "host=unix:///run/alpha/docker.sock")
	cli(nil, "context", "create", "beta", "--docker", "host=tcp://10.1.2.3:2375")
	cli(nil, "context", "use", "alpha")
	for _, env := range [][]string{
		nil,
		{"DOCKER_CONTEXT=beta"},
		{"DOCKER_CONTEXT=default"},
		{"DOCKER_HOST=unix:///run/elsewhere.sock", "DOCKER_CONTEXT=beta"},
	} {
		name := strings.Join(env, " ")
		if name == "" {
			name = "the current context"
		}
		t.Run(name, func(t *testing.T) {
			want := cli(env, "context", "inspect", "--format", "{{.Endpoints.docker.Host}}")
			vars := map[string]string{"DOCKER_CONFIG": cfg}
			for _, kv := range env {
				k, v, _ := strings.Cut(kv, "=")
				vars[k] = v
			}
			ep, err := resolveEndpoint(func(k string) string { return vars[k] }, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if ep.Host != want {
				t.Errorf("clstr picks %s (from %s); the docker CLI picks %s", ep.Host, ep.Source, want)
			}
		})
	}
}
