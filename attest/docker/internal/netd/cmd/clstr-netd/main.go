//go:build linux

// Command clstr-netd is the network daemon clstr runs in a sandbox
// container beside every node; see package netd.
package main

import (
	"os"

	"github.com/clstr-dev/clstr/attest/docker/internal/netd"
)

func main() {
	os.Exit(netd.Main(os.Args[1:], nil))
}
