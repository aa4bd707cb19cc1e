// Package testenv says what a test needs from the machine it runs on, and
// skips it, saying why, where the machine does not have it: under
// `go test -short`, every test that runs containers, network namespaces
// or a browser; without a Docker daemon, every test that needs one,
// unless CI is set, where a missing daemon fails the test instead.
package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// Docker skips t under -short, and when no Docker daemon answers; with CI
// set, a daemon that does not answer fails t instead.
func Docker(t testing.TB) {
	t.Helper()
	Long(t, "it runs containers")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := ping(ctx)
	switch {
	case err == nil:
	case os.Getenv("CI") != "":
		t.Fatalf("CI is set, so a Docker daemon must answer: %v", err)
	default:
		t.Skipf("no Docker daemon answers (and CI is not set), so this end-to-end test cannot run: %v", err)
	}
}

// Long skips t under -short, saying why it is long: what it needs or does.
func Long(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: %s; run without -short for it", why)
	}
}

// ping asks the daemon that DOCKER_HOST (or the default socket) names
// whether it answers.
func ping(ctx context.Context) error {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	_, err = cli.Ping(ctx)
	return err
}
