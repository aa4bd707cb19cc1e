package kvsuite

import (
	"fmt"
	"strings"
	"time"

	. "github.com/clstr-dev/clstr/attest"
)

func Persistence() *Suite {
	return New(
		WithCluster(1),
		WithNodeStartupTimeout(20*time.Second),
		WithNodeShutdownTimeout(5*time.Second),
		WithClusterSettleDuration(100*time.Millisecond),
	).

		// 1
		Test("Rapid Sequential Writes Survive SIGTERM", func(do *Do) {
			value := func(i int) string {
				head := fmt.Sprintf("rapid value %d ", i)
				return head + strings.Repeat("x", 1000-len(head))
			}
			for i := 1; i <= 500; i++ {
				do.PUT(Node("n1"), fmt.Sprintf("/kv/rapid:%d", i), value(i)).Status(Is(200)).Run()
			}

			do.Restart("n1")

			for i := 1; i <= 500; i++ {
				do.GET(Node("n1"), fmt.Sprintf("/kv/rapid:%d", i)).
					Status(Is(200)).
					Body(Is(value(i))).
					Hint("Save every write to DATA_DIR, and flush on SIGTERM before you exit.").
					Run()
			}
		}).

		// 2
		Test("Stopped Nodes Are Left Out", func(do *Do) {
			do.Stop("n1")
			if got := do.Nodes(); len(got) != 0 {
				do.Failf("Nodes() with n1 stopped = %v, want none", got)
			}
			if got := do.AllNodeNames(); len(got) != 1 {
				do.Failf("AllNodeNames() = %v, want [n1]", got)
			}
			do.Start("n1")
			do.GET(Node("n1"), "/kv/rapid:1").Status(Is(200)).Run()
		})
}
