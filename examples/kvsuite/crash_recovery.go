package kvsuite

import (
	"fmt"
	"syscall"
	"time"

	. "github.com/clstr-dev/clstr/attest"
)

func CrashRecovery() *Suite {
	return New(WithCluster(1), WithNodeStartupTimeout(20*time.Second)).

		// 1
		Test("Acknowledged Writes Survive SIGKILL", func(do *Do) {
			do.Concurrently(50, func(i int) {
				do.PUT(Node("n1"), fmt.Sprintf("/kv/crash:%d", i), fmt.Sprintf("v%d", i)).
					Status(Is(200)).
					Run()
			})

			do.Restart("n1", syscall.SIGKILL)

			for i := 1; i <= 50; i++ {
				do.GET(Node("n1"), fmt.Sprintf("/kv/crash:%d", i)).
					Status(Is(200)).
					Body(Is(fmt.Sprintf("v%d", i))).
					Hint("Append each write to a file under DATA_DIR and fsync it before you answer 200.").
					Run()
			}
		})
}
