package docker

import (
	"os"
	"path/filepath"

	"github.com/clstr-dev/clstr/attest/docker/internal/durafs/supervisor"
)

// On Linux, any program that imports this package is also the durability
// supervisor of a node's container, started under supervisor.Name (see
// durable.go).
func init() {
	if filepath.Base(os.Args[0]) == supervisor.Name || filepath.Base(os.Args[0]) == filepath.Base(supervisor.Path) {
		os.Exit(supervisor.Main(os.Args[1:]))
	}
}
