package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/docker/client"
)

// Endpoint is the Docker daemon clstr talks to, found as the docker CLI
// finds it: DOCKER_HOST, then the context DOCKER_CONTEXT names, then the
// current context of the docker config, then the default socket. That is
// how Docker Desktop, colima, OrbStack and the like point the CLI at
// their daemon.
type Endpoint struct {
	// Host is the daemon's address: "unix:///var/run/docker.sock",
	// "tcp://host:2376", "npipe:////./pipe/docker_engine".
	Host string
	// Source says where Host came from: "DOCKER_HOST", `docker context
	// "colima" (DOCKER_CONTEXT)`, `docker context "desktop-linux" (the
	// current context in ~/.docker/config.json)`, "the default socket".
	Source string
	// Context is the docker context's name, if one gave Host.
	Context string
	// TLSDir holds the context's ca.pem, cert.pem and key.pem, if it has
	// any; SkipTLSVerify is the context's choice not to check the
	// daemon's certificate.
	TLSDir        string
	SkipTLSVerify bool
}

// String reads "unix:///var/run/docker.sock (from DOCKER_HOST)".
func (e Endpoint) String() string { return e.Host + " (from " + e.Source + ")" }

// ResolveEndpoint finds the Docker endpoint of this process's environment.
func ResolveEndpoint() (Endpoint, error) {
	home, _ := os.UserHomeDir()
	return resolveEndpoint(os.Getenv, home)
}

// resolveEndpoint is ResolveEndpoint with the environment and home
// directory given.
func resolveEndpoint(getenv func(string) string, home string) (Endpoint, error) {
	if h := getenv("DOCKER_HOST"); h != "" {
		return Endpoint{Host: h, Source: "DOCKER_HOST"}, nil
	}
	dir := getenv("DOCKER_CONFIG")
	if dir == "" {
		dir = filepath.Join(home, ".docker")
	}
	name, why := getenv("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
	if name == "" {
		cfg := filepath.Join(dir, "config.json")
		b, err := os.ReadFile(cfg)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return Endpoint{}, fmt.Errorf("read the docker config %s: %w", cfg, err)
		}
		if err == nil {
			var c struct{ CurrentContext string }
			if err := json.Unmarshal(b, &c); err != nil {
				return Endpoint{}, fmt.Errorf("read the docker config %s: %v; fix it, or set DOCKER_HOST", cfg, err)
			}
			name, why = c.CurrentContext, "the current context in "+cfg
		}
	}
	if name == "" || name == "default" {
		src := "the default socket"
		if name == "default" {
			src = `docker context "default" (` + why + `)`
		}
		return Endpoint{Host: client.DefaultDockerHost, Source: src, Context: name}, nil
	}
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	meta := filepath.Join(dir, "contexts", "meta", id, "meta.json")
	src := fmt.Sprintf("docker context %q (%s)", name, why)
	b, err := os.ReadFile(meta)
	if errors.Is(err, fs.ErrNotExist) {
		return Endpoint{}, fmt.Errorf("%s does not exist: there is no %s; list the contexts with `docker context ls` and pick one with `docker context use NAME`, or set DOCKER_HOST", src, meta)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("read %s: %w", src, err)
	}
	var m struct {
		Endpoints map[string]struct {
			Host          string
			SkipTLSVerify bool
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return Endpoint{}, fmt.Errorf("read %s from %s: %v", src, meta, err)
	}
	ep, ok := m.Endpoints["docker"]
	if !ok || ep.Host == "" {
		return Endpoint{}, fmt.Errorf("%s names no Docker endpoint in %s; set DOCKER_HOST or pick another context", src, meta)
	}
	if strings.HasPrefix(ep.Host, "ssh://") {
		return Endpoint{}, fmt.Errorf("%s reaches its daemon over ssh (%s), which clstr cannot do itself: forward the daemon's socket (`ssh -NL /tmp/docker.sock:/var/run/docker.sock HOST`) and set DOCKER_HOST=unix:///tmp/docker.sock", src, ep.Host)
	}
	e := Endpoint{Host: ep.Host, Source: src, Context: name, SkipTLSVerify: ep.SkipTLSVerify}
	tls := filepath.Join(dir, "contexts", "tls", id, "docker")
	if _, err := os.Stat(tls); err == nil {
		e.TLSDir = tls
	}
	return e, nil
}

// clientOpts are the Docker client's options for reaching e.
func (e Endpoint) clientOpts() []client.Opt {
	if e.Source == "DOCKER_HOST" {
		// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH and DOCKER_API_VERSION go
		// with it.
		return []client.Opt{client.FromEnv}
	}
	opts := []client.Opt{client.WithHost(e.Host), client.WithVersionFromEnv()}
	if e.TLSDir != "" {
		file := func(name string) string {
			p := filepath.Join(e.TLSDir, name)
			if _, err := os.Stat(p); err != nil {
				return ""
			}
			return p
		}
		opts = append(opts, client.WithTLSClientConfig(file("ca.pem"), file("cert.pem"), file("key.pem")))
		if e.SkipTLSVerify {
			opts = append(opts, skipTLSVerify)
		}
	}
	return opts
}

// skipTLSVerify makes the client accept any certificate of the daemon, as
// a context with SkipTLSVerify asks.
func skipTLSVerify(c *client.Client) error {
	t, ok := c.HTTPClient().Transport.(*http.Transport)
	if !ok || t.TLSClientConfig == nil {
		return nil
	}
	t.TLSClientConfig.InsecureSkipVerify = true
	return nil
}
