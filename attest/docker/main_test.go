package docker

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/clstr-dev/clstr/internal/testkit/testenv"
)

// testnodeBin is the in-repo test node (internal/testkit/testnode), built static
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
	cmd := exec.Command("go", "build", "-trimpath", "-o", testnodeBin, "../../internal/testkit/testnode")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build testnode: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// dockerOrSkip skips t under -short or without a Docker daemon (see
// testenv.Docker).
func dockerOrSkip(t testing.TB) {
	t.Helper()
	testenv.Docker(t)
}
