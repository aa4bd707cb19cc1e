package attest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/attest/engine"
)

// echo answers with what it received, as JSON.
func echo() handlerFunc {
	return func(node string, w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		json.NewEncoder(w).Encode(map[string]any{
			"node":   node,
			"method": r.Method,
			"path":   r.URL.Path,
			"body":   string(body),
			"header": r.Header.Get("X-Test"),
			"host":   r.Host,
			"list":   []int{1, 2, 3},
			"null":   nil,
		})
	}
}

func TestRequestsAndConditions(t *testing.T) {
	tests := []struct {
		name    string
		check   func(do *Do) *Check
		problem string // "" if the check passes
	}{
		{"get", func(do *Do) *Check {
			return do.GET(Node("n1"), "/a").Status(Is(200)).JSON("method", Is("GET")).JSON("path", Is("/a"))
		}, ""},
		{"put body and header", func(do *Do) *Check {
			return do.PUT(Node("n1"), "/kv/key", "value", H{"X-Test": "yes"}).
				JSON("method", Is("PUT")).JSON("body", Is("value")).JSON("header", Is("yes"))
		}, ""},
		{"post bytes", func(do *Do) *Check {
			return do.POST(Node("n1"), "/p", []byte(`{"k":1}`)).JSON("method", Is("POST")).JSON("body", Is(`{"k":1}`))
		}, ""},
		{"delete", func(do *Do) *Check { return do.DELETE(Node("n1"), "/d").JSON("method", Is("DELETE")) }, ""},
		{"patch", func(do *Do) *Check { return do.PATCH(Node("n1"), "/x", "p").JSON("method", Is("PATCH")) }, ""},
		{"any method", func(do *Do) *Check {
			return do.Request("OPTIONS", Node("n1"), "/x").JSON("method", Is("OPTIONS"))
		}, ""},
		{"host header", func(do *Do) *Check {
			return do.GET(Node("n1"), "/x", H{"Host": "example"}).JSON("host", Is("example"))
		}, ""},
		{"unicode path", func(do *Do) *Check {
			return do.GET(Node("n1"), "/kv/ключ").JSON("path", Is("/kv/ключ"))
		}, ""},
		{"path without slash", func(do *Do) *Check { return do.GET(Node("n1"), "x").JSON("path", Is("/x")) }, ""},
		{"several matchers hold", func(do *Do) *Check {
			return do.GET(Node("n1"), "/x").Status(Is(200), Not(Is(404))).Body(Contains("node"), Contains("path"))
		}, ""},
		{"several matchers, one fails", func(do *Do) *Check {
			return do.GET(Node("n1"), "/x").Body(Contains("node"), Contains("zzz"))
		}, `expected body contains "zzz", got`},
		{"status fails", func(do *Do) *Check { return do.GET(Node("n1"), "/x").Status(Is(201)) },
			"expected status is 201, got 200"},
		{"header", func(do *Do) *Check {
			return do.GET(Node("n1"), "/x").Header("content-type", Is("application/json")).Header("X-Multi", Is("a, b"))
		}, ""},
		{"missing header is null", func(do *Do) *Check {
			return do.GET(Node("n1"), "/x").Header("Location", IsNull[string]())
		}, ""},
		{"missing header fails", func(do *Do) *Check {
			return do.GET(Node("n1"), "/x").Header("Location", Matches("^http"))
		}, "expected header Location matches `^http`, got (missing)"},
		{"json null", func(do *Do) *Check { return do.GET(Node("n1"), "/x").JSON("null", IsNull[string]()) }, ""},
		{"json length", func(do *Do) *Check { return do.GET(Node("n1"), "/x").JSON("list", HasLen[string](3)) }, ""},
		{"json length fails", func(do *Do) *Check { return do.GET(Node("n1"), "/x").JSON("list", HasLen[string](2)) },
			`expected JSON "list" has length 2, got [1,2,3] (length 3)`},
		{"json numbers", func(do *Do) *Check {
			return do.GET(Node("n1"), "/x").JSON("list.2", GreaterThan("2"), LessThan(10)).JSON("list.#", Is(3))
		}, ""},
		{"bad argument", func(do *Do) *Check { return do.GET(Node("n1"), "/x", 42) },
			"argument of type int"},
		{"two bodies", func(do *Do) *Check { return do.PUT(Node("n1"), "/x", "a", "b") }, "2 bodies given"},
		{"nil matcher", func(do *Do) *Check { return do.GET(Node("n1"), "/x").Status(nil) }, "nil matcher"},
		{"two timeouts", func(do *Do) *Check { return do.GET(Node("n1"), "/x").Eventually(time.Second, time.Second) },
			"at most one timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := run(t, suite(1).Test(tc.name, func(do *Do) { tc.check(do).Run() }), runtime(echo()))
			if tc.problem == "" {
				passes(t, res)
				return
			}
			contains(t, "failure", failure(t, res).Error(), tc.problem)
		})
	}
}

func TestBodyNotJSON(t *testing.T) {
	h := func(node string, w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") }
	res, _ := run(t, suite(1).Test("json", func(do *Do) {
		do.GET(Node("n1"), "/x").JSON("role", IsNull[string]()).Run()
	}), runtime(h))
	contains(t, "failure", failure(t, res).Error(), `expected JSON "role" is null, but the body is not JSON`)
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var followed atomic.Int32
	h := func(node string, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/target" {
			followed.Add(1)
			return
		}
		http.Redirect(w, r, "/target", http.StatusTemporaryRedirect)
	}
	res, _ := run(t, suite(1).Test("redirect", func(do *Do) {
		do.PUT(Node("n1"), "/kv/foo", "v").Status(Is(307)).Header("Location", Is("/target")).Run()
	}), runtime(h))
	passes(t, res)
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

func TestRequestTimeout(t *testing.T) {
	h := func(node string, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	start := time.Now()
	res, _ := run(t, suite(1, WithRequestTimeout(100*time.Millisecond)).Test("slow", func(do *Do) {
		do.GET(Node("n1"), "/slow").Status(Is(200)).Run()
	}), runtime(h))
	f := failure(t, res)
	contains(t, "failure", f.Error(), "no response within 100ms")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the run took %v; the request timeout did not cut the request", d)
	}
	if !errors.Is(f.Nodes[0].Err, context.DeadlineExceeded) {
		t.Errorf("node error %v does not wrap context.DeadlineExceeded", f.Nodes[0].Err)
	}
}

// TestChecksAreParallel proves a check over several nodes sends its
// requests at once: each node answers only once all of them have been
// asked.
func TestChecksAreParallel(t *testing.T) {
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	h := func(node string, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		if arrived == 3 {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(time.Second):
			w.WriteHeader(http.StatusGatewayTimeout)
		}
	}
	res, _ := run(t, suite(3).Test("parallel", func(do *Do) {
		do.GET(do.AllNodes(), "/barrier").Status(Is(200)).Run()
	}), runtime(h))
	passes(t, res)
}

func TestExecAndAt(t *testing.T) {
	var resps []*engine.Response
	var err error
	var failedResps []*engine.Response
	var failed error
	s := suite(2).Test("exec", func(do *Do) {
		resps, err = do.GET(do.AllNodes(), "/x").Status(Is(200)).Exec()
		failedResps, failed = do.GET(Node("n2"), "/x").Status(Is(500)).At("script.star:7:3").Exec()
	})
	res, _ := run(t, s, runtime(echo()))
	passes(t, res)
	if err != nil || len(resps) != 2 || resps[0].Node != "n1" || resps[1].JSON("node") != "n2" {
		t.Fatalf("Exec() = %v, %v", resps, err)
	}
	var f *engine.Failure
	if !errors.As(failed, &f) {
		t.Fatalf("failed Exec() error = %v, want a *Failure", failed)
	}
	if f.Pos != "script.star:7:3" || f.Test != "exec" || f.What != "GET /x on n2" {
		t.Errorf("failure Pos, Test, What = %q, %q, %q", f.Pos, f.Test, f.What)
	}
	if len(failedResps) != 1 || failedResps[0].Status != 200 {
		t.Errorf("failed Exec() responses = %v", failedResps)
	}
}

func TestFailurePositionIsTheRunCall(t *testing.T) {
	var line int
	res, _ := run(t, suite(1).Test("pos", func(do *Do) {
		_, _, line, _ = goruntime.Caller(0)
		do.GET(Node("n1"), "/x").Status(Is(500)).Run() // line+1
	}), runtime(echo()))
	f := failure(t, res)
	if want := fmt.Sprintf("check_test.go:%d", line+1); f.Pos != want {
		t.Errorf("Pos = %q, want %q", f.Pos, want)
	}
	if f.Test != "pos" {
		t.Errorf("Test = %q", f.Test)
	}
}

func TestCheckString(t *testing.T) {
	var got string
	res, _ := run(t, suite(1).Test("s", func(do *Do) {
		put, get := do.PUT(do.AllNodes(), "/kv/key", "v"), do.GET(Node("n1"), "/")
		got = put.String() + " | " + get.String()
		put.Run() // a check that never runs is the test's mistake
		get.Run()
	}), runtime(echo()))
	passes(t, res)
	if want := "PUT /kv/key on all_nodes() | GET / on n1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestCheckNeverRun checks that a test that builds a check and never runs
// it ends as an error of the suite at the line that built it, while checks
// that run, in the test or in its clients and concurrent calls, do not.
func TestCheckNeverRun(t *testing.T) {
	var line int
	tests := []struct {
		name    string
		body    func(do *Do)
		problem string // "" if the test passes
	}{
		{"never run", func(do *Do) {
			_, _, line, _ = goruntime.Caller(0)
			do.GET(Node("n1"), "/health").Status(Is(500))
		}, "GET /health on n1 is built and never run, so it sends nothing and checks nothing: add .Run() or .Exec()"},
		{"several never run", func(do *Do) {
			_, _, line, _ = goruntime.Caller(0)
			do.PUT(Node("n1"), "/kv/a", "1")
			do.DELETE(Node("n1"), "/kv/a")
		}, "PUT /kv/a on n1 is built and never run, so it sends nothing and checks nothing: add .Run() or .Exec() (2 checks of the test never ran)"},
		{"run", func(do *Do) { do.GET(Node("n1"), "/health").Status(Is(200)).Run() }, ""},
		{"exec", func(do *Do) { do.GET(Node("n1"), "/health").Exec() }, ""},
		{"kept and run later", func(do *Do) {
			c := do.GET(Node("n1"), "/health")
			c.Status(Is(200))
			c.Run()
		}, ""},
		{"in eventually", func(do *Do) {
			do.Eventually(func() error { _, err := do.GET(Node("n1"), "/health").Exec(); return err })
		}, ""},
		{"in concurrently", func(do *Do) {
			do.Concurrently(3, func(i int) { do.GET(Node("n1"), "/health").Run() })
		}, ""},
		{"in clients", func(do *Do) {
			do.Clients(2, func(cd *Do, i int) { cd.GET(Node("n1"), "/health").Run() }, ClientOptions{Ops: 2})
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := run(t, suite(1).Test(tc.name, tc.body), runtime(echo()))
			if tc.problem == "" {
				passes(t, res)
				return
			}
			if v := res.Verdict(); v != engine.VerdictError {
				t.Fatalf("verdict %v, want %v: a check that never ran is the suite's mistake", v, engine.VerdictError)
			}
			var f *engine.Failure
			if !errors.As(res.FirstError(), &f) {
				t.Fatalf("error %v; want a failure", res.FirstError())
			}
			if want := fmt.Sprintf("check_test.go:%d", line+1); f.Pos != want {
				t.Errorf("position %q; want %q", f.Pos, want)
			}
			contains(t, "failure", f.Error(), tc.problem)
		})
	}
}
