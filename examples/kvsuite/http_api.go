package kvsuite

import (
	"fmt"
	"strings"
	"time"

	. "github.com/clstr-dev/clstr/attest"
)

// evenStatus is a matcher of the original attest's kind: Check and
// Expected, nothing else.
type evenStatus struct{}

func (evenStatus) Check(actual int) bool { return actual%2 == 0 }
func (evenStatus) Expected() string      { return "an even status" }

func HTTPAPI() *Suite {
	return New(WithCluster(1), WithNodeStartupTimeout(20*time.Second)).

		// 1
		Test("PUT Stores Values", func(do *Do) {
			for _, country := range []string{"kenya", "uganda", "tanzania"} {
				do.PUT(Node("n1"), fmt.Sprintf("/kv/%s:capital", country), strings.ToUpper(country[:1])+country[1:]).
					Status(Is(200), evenStatus{}).
					Hint("Your server should accept PUT requests to /kv/{key}.").
					Run()
			}
		}).

		// 2
		Test("Values Come Back Exactly, as Plain Text", func(do *Do) {
			do.PUT(Node("n1"), "/kv/bond", "007").Status(Is(200)).Run()
			do.GET(Node("n1"), "/kv/bond").
				Status(Is(200), Not(Is(500)), Not[int](Is(404))).
				Body(Is("007"), Not[string](Is("7"))).
				Header("Content-Type", Matches(`^text/plain(;|$)`)).
				Hint("GET /kv/{key} answers the stored value byte for byte, as Content-Type: text/plain.").
				Run()
			if r := do.Fetch("n1", "/kv/bond"); r == nil || string(r.Body) != "007" {
				do.Failf("Fetch of /kv/bond gave %v, want the body 007", r)
			}
		}).

		// 3
		Test("Missing Keys Answer 404", func(do *Do) {
			do.GET(Node("n1"), "/kv/nowhere").
				Status(Is(404)).
				Body(Matches("^key not found\n?$")).
				Header("Content-Type", Contains("text/plain")).
				Hint("Return 404 \"key not found\" for a key that was never stored.").
				Run()
		}).

		// 4
		Test("PUT After DELETE Stores Again", func(do *Do) {
			do.DELETE(Node("n1"), "/kv/bond").Status(Is(200)).Run()
			do.GET(Node("n1"), "/kv/bond").Status(Is(404)).Run()
			do.PUT(Node("n1"), "/kv/bond", "new").Status(Is(200)).Run()
			do.GET(Node("n1"), "/kv/bond").
				Status(Is(200)).
				Body(Is("new")).
				Hint("A deleted key can be written again.").
				Run()
		}).

		// 5
		Test("Concurrent Writes to One Key", func(do *Do) {
			values := make([]string, 100)
			for i := range values {
				values[i] = fmt.Sprintf("value%03d", i+1) // all of one length
			}
			do.Concurrently(100, func(i int) {
				do.PUT(Node("n1"), "/kv/racekey", values[i-1]).Status(Is(200)).Run()
			})
			do.GET(do.AllNodes(), "/kv/racekey").
				Status(Is(200)).
				Body(OneOf(values...), HasLen[string](len("value000")), Not(IsNull[string]())).
				Hint("Each write replaces the value atomically.").
				Run()
			if got := do.Nodes(); len(got) != 1 || got[0] != "n1" {
				do.Failf("Nodes() = %v, want [n1]", got)
			}
		})
}
