package docker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// testnodeBin is the in-repo test node (internal/testnode), built static
// once for all tests.
var testnodeBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "clstr-docker-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	testnodeBin = filepath.Join(dir, "testnode")
	cmd := exec.Command("go", "build", "-o", testnodeBin, "../../internal/testnode")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build testnode: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// dockerOrSkip connects to the daemon, or fails the test when CI says a
// daemon must be there.
func dockerOrSkip(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := Connect(ctx)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs a Docker daemon: %v", err)
		}
		t.Skipf("no Docker daemon: %v", err)
	}
	cli.Close()
}
