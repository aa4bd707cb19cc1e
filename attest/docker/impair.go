package docker

import "github.com/clstr-dev/clstr/internal/netd"

// newImpairer returns what clstr-netd uses to impair a node's traffic.
func newImpairer() netd.Impairer { return nil }
