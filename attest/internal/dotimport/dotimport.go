// Package dotimport is a suite written as the original attest reference
// recommends, with attest dot-imported, that declares types and functions
// of its own under the names of clstr's engine (Response, Config, Result,
// Failure, Value, Wait, …). It holds no test that runs: it exists so that
// building it fails if package attest ever exports one of those names
// again, since a dot import brings every exported name of attest into the
// suite's file.
package dotimport

import (
	"encoding/json"
	"time"

	. "github.com/clstr-dev/clstr/attest"
)

// Response is the answer of the target's GET /cluster/info.
type Response struct {
	Role   string `json:"role"`
	Term   int    `json:"term"`
	Leader string `json:"leader"`
}

// Config is what the suite varies between its stages.
type Config struct {
	Nodes   int
	Timeout time.Duration
}

// Result is what a test found out about the cluster.
type Result struct {
	Leader string
	Term   int
}

// Failure, Value, Wait, Timing, Verdict, Reporter, NodeReport and the
// others are names a suite may well pick for its own helpers.
type (
	Failure    struct{ Reason string }
	Value      struct{ Key, Data string }
	Wait       struct{ For time.Duration }
	Timing     int
	Verdict    string
	Reporter   interface{ Report(Result) }
	NodeReport map[string]Response
	TestResult struct{ Name string }
	TestStatus int
	RunOptions struct{ Seed uint64 }
	PanicError struct{ Value any }
	EnvError   struct{ Err error }
	Permanent  struct{ Err error }
	Blame      string
	NewSeed    uint64
	JSONValue  json.RawMessage
	TextValue  string
)

// DefaultConfig is the configuration of the suite's stages.
func DefaultConfig() Config { return Config{Nodes: 3, Timeout: 5 * time.Second} }

// DefaultMaxBody and DefaultCheckTimeout are the suite's own limits.
const (
	DefaultMaxBody      = 1 << 10
	DefaultCheckTimeout = 10 * time.Second
)

// Election is a stage: a leader is elected, and the suite reads who it is
// into a Response of its own.
func Election() *Suite {
	cfg := DefaultConfig()
	return New(WithCluster(cfg.Nodes)).
		Test("A Leader Is Elected", func(do *Do) {
			do.GET(do.ExactlyOneNode(), "/cluster/info").
				Eventually(cfg.Timeout).
				JSON("role", Is("leader")).
				Run()
			var res Result
			for _, name := range do.Nodes() {
				r := do.Fetch(name, "/cluster/info")
				if r == nil {
					continue
				}
				var info Response
				if json.Unmarshal(r.Body, &info) == nil && info.Role == "leader" {
					res = Result{Leader: name, Term: info.Term}
				}
			}
			if res.Leader == "" {
				do.Failf("no node says it is the leader")
			}
		})
}
