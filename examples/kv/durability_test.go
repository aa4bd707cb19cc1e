package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestDurability(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(signame(sig), func(t *testing.T) {
			n := startNode(t)
			c := client()
			for i := range 100 {
				if err := expect(c, "PUT", n.url(fmt.Sprintf("/kv/seq-%d", i)), fmt.Sprintf("s%d", i), 200, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := putConcurrently(c, n, "conc", 1000); err != nil {
				t.Fatal(err)
			}
			if err := expect(c, "DELETE", n.url("/kv/seq-0"), "", 200, nil); err != nil {
				t.Fatal(err)
			}

			for round := range 2 {
				n.restart(sig)
				if err := expect(c, "GET", n.url("/kv/seq-0"), "", 404, nil); err != nil {
					t.Fatalf("after restart %d: deleted key is back: %v", round+1, err)
				}
				for i := 1; i < 100; i++ {
					if err := expect(c, "GET", n.url(fmt.Sprintf("/kv/seq-%d", i)), "", 200, ptr(fmt.Sprintf("s%d", i))); err != nil {
						t.Fatalf("after restart %d: %v", round+1, err)
					}
				}
				if err := checkPresent(c, n, "conc", 1000); err != nil {
					t.Fatalf("after restart %d: %v", round+1, err)
				}
			}

			if err := expect(c, "DELETE", n.url("/clear"), "", 200, nil); err != nil {
				t.Fatal(err)
			}
			if err := expect(c, "PUT", n.url("/kv/after-clear"), "x", 200, nil); err != nil {
				t.Fatal(err)
			}
			n.restart(sig)
			if err := expect(c, "GET", n.url("/kv/seq-5"), "", 404, nil); err != nil {
				t.Fatalf("clear did not survive %s: %v", signame(sig), err)
			}
			if err := expect(c, "GET", n.url("/kv/after-clear"), "", 200, ptr("x")); err != nil {
				t.Fatalf("write after clear did not survive %s: %v", signame(sig), err)
			}
		})
	}
}

// putConcurrently writes prefix-0 … prefix-(n-1) from n goroutines.
func putConcurrently(c *http.Client, nd *node, prefix string, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := expect(c, "PUT", nd.url(fmt.Sprintf("/kv/%s-%d", prefix, i)), fmt.Sprintf("v%d", i), 200, nil); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// checkPresent checks, from a few concurrent readers, that prefix-0 …
// prefix-(n-1) hold the values putConcurrently wrote.
func checkPresent(c *http.Client, nd *node, prefix string, n int) error {
	var mu sync.Mutex // guards missing
	var missing []string
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				key := fmt.Sprintf("%s-%d", prefix, i)
				if err := expect(c, "GET", nd.url("/kv/"+key), "", 200, ptr(fmt.Sprintf("v%d", i))); err != nil {
					mu.Lock()
					missing = append(missing, key)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("%d of %d acknowledged writes are missing (e.g. %s)", len(missing), n, missing[0])
	}
	return nil
}

func TestReplayDropsTornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := s.Put(fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete("k0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A record cut short by a crash, as a half-finished write leaves it.
	torn := appendRecord(nil, op{kind: opPut, key: "torn", value: "never acknowledged"})
	f, err := os.OpenFile(filepath.Join(dir, logName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(torn[:len(torn)-3]); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s, err = Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.Get("torn"); ok {
		t.Error("the torn record was applied")
	}
	if _, ok := s.Get("k0"); ok {
		t.Error("k0 was deleted before the crash but is back")
	}
	for i := 1; i < 10; i++ {
		if v, ok := s.Get(fmt.Sprintf("k%d", i)); !ok || v != fmt.Sprintf("v%d", i) {
			t.Errorf("k%d = %q, %v after replay; want v%d", i, v, ok, i)
		}
	}
	// Writes after a torn tail must survive the next replay too.
	if err := s.Put("after", "x"); err != nil {
		t.Fatal(err)
	}
	data := map[string]string{}
	if _, torn, err := replay(filepath.Join(dir, logName), data); err != nil || torn || data["after"] != "x" {
		t.Errorf("replay after a write that followed a torn tail: torn=%v err=%v after=%q", torn, err, data["after"])
	}
}

func TestUnknownBugRefusesToStart(t *testing.T) {
	cmd := exec.Command(nodeBinary)
	cmd.Env = append(os.Environ(), "ADDR="+freeAddr(t), "DATA_DIR="+t.TempDir(), "KV_BUG=no-such-bug")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("kv node started with KV_BUG=no-such-bug; output:\n%s", out)
	}
	if !strings.Contains(string(out), `unknown KV_BUG "no-such-bug"`) {
		t.Errorf("output does not name the unknown bug:\n%s", out)
	}
}
