package main

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// TestPlantedBugs runs, for each planted bug, a check of the contract that
// the bug breaks: the check must pass on the correct server and fail with
// KV_BUG set, so each bug is observable from outside.
func TestPlantedBugs(t *testing.T) {
	tests := []struct {
		bug   string
		check func(c *http.Client, n *node) error
	}{
		{bugEmptyValue, func(c *http.Client, n *node) error {
			return expect(c, "PUT", n.url("/kv/k"), "", 400, ptr("value cannot be empty"))
		}},
		{bugDeleteMissing404, func(c *http.Client, n *node) error {
			return expect(c, "DELETE", n.url("/kv/never-set"), "", 200, nil)
		}},
		{bugNo405, func(c *http.Client, n *node) error {
			return errors.Join(
				expect(c, "POST", n.url("/kv/k"), "v", 405, ptr("method not allowed")),
				expect(c, "GET", n.url("/clear"), "", 405, ptr("method not allowed")),
			)
		}},
		{bugCaseFold, func(c *http.Client, n *node) error {
			return errors.Join(
				expect(c, "PUT", n.url("/kv/Key"), "upper", 200, nil),
				expect(c, "PUT", n.url("/kv/key"), "lower", 200, nil),
				expect(c, "GET", n.url("/kv/Key"), "", 200, ptr("upper")),
			)
		}},
		{bugRacy, func(c *http.Client, n *node) error {
			return checkConcurrentWrites(c, "http://"+n.addr, 100)
		}},
		{bugMemoryOnly, func(c *http.Client, n *node) error {
			return survives(c, n, syscall.SIGTERM)
		}},
		{bugSIGTERMOnly, func(c *http.Client, n *node) error {
			if err := survives(c, n, syscall.SIGTERM); err != nil {
				return fmt.Errorf("sigterm-only should survive SIGTERM: %w", err)
			}
			return survives(c, n, syscall.SIGKILL)
		}},
		{bugLostOnSIGKILL, func(c *http.Client, n *node) error {
			// The bug loses what was acknowledged in the last second
			// before the kill, unless a flush happens to fall between
			// the last write and the kill; three rounds make that chance
			// negligible.
			for round := range 3 {
				prefix := fmt.Sprintf("round%d", round)
				for i := range 20 {
					if err := expect(c, "PUT", n.url(fmt.Sprintf("/kv/%s-%d", prefix, i)), fmt.Sprintf("v%d", i), 200, nil); err != nil {
						return err
					}
				}
				n.restart(syscall.SIGKILL)
				if err := checkPresent(c, n, prefix, 20); err != nil {
					return fmt.Errorf("after SIGKILL: %w", err)
				}
			}
			return nil
		}},
		{bugClearNotDurable, func(c *http.Client, n *node) error {
			if err := expect(c, "PUT", n.url("/kv/k"), "v", 200, nil); err != nil {
				return err
			}
			if err := expect(c, "DELETE", n.url("/clear"), "", 200, nil); err != nil {
				return err
			}
			n.restart(syscall.SIGKILL)
			if err := expect(c, "GET", n.url("/kv/k"), "", 404, ptr("key not found")); err != nil {
				return fmt.Errorf("after clear and SIGKILL: %w", err)
			}
			return nil
		}},
		{bugOctetStream, func(c *http.Client, n *node) error {
			if err := expect(c, "PUT", n.url("/kv/k"), "v", 200, nil); err != nil {
				return err
			}
			resp, err := c.Get(n.url("/kv/k"))
			if err != nil {
				return err
			}
			resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				return fmt.Errorf("GET /kv/k: Content-Type %q, want text/plain", ct)
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.bug, func(t *testing.T) {
			c := client()
			if err := tc.check(c, startNode(t)); err != nil {
				t.Fatalf("the correct server fails the check: %v", err)
			}
			err := tc.check(c, startNode(t, "KV_BUG="+tc.bug))
			if err == nil {
				t.Fatalf("KV_BUG=%s passes the check; the bug is not observable", tc.bug)
			}
			t.Logf("KV_BUG=%s observed: %v", tc.bug, err)
		})
	}
}

// survives writes a key, restarts the node with sig and reads it back.
func survives(c *http.Client, n *node, sig syscall.Signal) error {
	key := "/kv/survives-" + signame(sig)
	if err := expect(c, "PUT", n.url(key), "v", 200, nil); err != nil {
		return err
	}
	n.restart(sig)
	if err := expect(c, "GET", n.url(key), "", 200, ptr("v")); err != nil {
		return fmt.Errorf("after %s: %w", signame(sig), err)
	}
	return nil
}
