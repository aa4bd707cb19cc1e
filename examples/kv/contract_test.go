package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// newTestServer serves a fresh store in-process, so the race detector sees
// the store's code.
func newTestServer(t *testing.T, bug string) *httptest.Server {
	t.Helper()
	store, err := Open(t.TempDir(), bug)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(store, bug))
	t.Cleanup(func() {
		srv.Close()
		if err := store.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return srv
}

func TestContract(t *testing.T) {
	srv := newTestServer(t, "")
	c := srv.Client()
	longKey := strings.Repeat("k", 2000)
	bigValue := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	unicodeKey := "ключ:😊"
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   *string
	}{
		{"missing key", "GET", "/kv/a", "", 404, ptr("key not found")},
		{"put", "PUT", "/kv/a", "hello world", 200, nil},
		{"get", "GET", "/kv/a", "", 200, ptr("hello world")},
		{"overwrite", "PUT", "/kv/a", "second", 200, nil},
		{"get overwritten", "GET", "/kv/a", "", 200, ptr("second")},
		{"keys are case-sensitive", "GET", "/kv/A", "", 404, ptr("key not found")},
		{"put upper case", "PUT", "/kv/A", "upper", 200, nil},
		{"lower case unchanged", "GET", "/kv/a", "", 200, ptr("second")},
		{"spaces and tabs", "PUT", "/kv/ws", "  a\tb  \n", 200, nil},
		{"get spaces and tabs", "GET", "/kv/ws", "", 200, ptr("  a\tb  ")},
		{"unicode value", "PUT", "/kv/u", "héllo wörld 😊 日本", 200, nil},
		{"get unicode value", "GET", "/kv/u", "", 200, ptr("héllo wörld 😊 日本")},
		{"unicode key", "PUT", "/kv/" + url.PathEscape(unicodeKey), "v", 200, nil},
		{"get unicode key", "GET", "/kv/" + url.PathEscape(unicodeKey), "", 200, ptr("v")},
		{"key with allowed punctuation", "PUT", "/kv/user:1_a.b-c", "p", 200, nil},
		{"get key with punctuation", "GET", "/kv/user:1_a.b-c", "", 200, ptr("p")},
		{"long key", "PUT", "/kv/" + longKey, "long", 200, nil},
		{"get long key", "GET", "/kv/" + longKey, "", 200, ptr("long")},
		{"1 MiB value", "PUT", "/kv/big", bigValue, 200, nil},
		{"get 1 MiB value", "GET", "/kv/big", "", 200, &bigValue},
		{"empty value", "PUT", "/kv/e", "", 400, ptr("value cannot be empty")},
		{"empty value not stored", "GET", "/kv/e", "", 404, ptr("key not found")},
		{"put empty key", "PUT", "/kv/", "v", 400, ptr("key cannot be empty")},
		{"get empty key", "GET", "/kv/", "", 400, ptr("key cannot be empty")},
		{"delete empty key", "DELETE", "/kv/", "", 400, ptr("key cannot be empty")},
		{"delete", "DELETE", "/kv/a", "", 200, nil},
		{"deleted", "GET", "/kv/a", "", 404, ptr("key not found")},
		{"delete again", "DELETE", "/kv/a", "", 200, nil},
		{"delete never set", "DELETE", "/kv/never", "", 200, nil},
		{"post kv", "POST", "/kv/a", "v", 405, ptr("method not allowed")},
		{"patch kv", "PATCH", "/kv/a", "v", 405, ptr("method not allowed")},
		{"get clear", "GET", "/clear", "", 405, ptr("method not allowed")},
		{"post clear", "POST", "/clear", "", 405, ptr("method not allowed")},
		{"post health", "POST", "/health", "", 405, ptr("method not allowed")},
		{"health", "GET", "/health", "", 200, nil},
		{"clear", "DELETE", "/clear", "", 200, nil},
		{"cleared", "GET", "/kv/A", "", 404, ptr("key not found")},
		{"cleared big", "GET", "/kv/big", "", 404, ptr("key not found")},
		{"put after clear", "PUT", "/kv/A", "again", 200, nil},
		{"get after clear", "GET", "/kv/A", "", 200, ptr("again")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := expect(c, tc.method, srv.URL+tc.path, tc.body, tc.wantStatus, tc.wantBody); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestContentType(t *testing.T) {
	srv := newTestServer(t, "")
	c := srv.Client()
	if _, _, err := do(c, "PUT", srv.URL+"/kv/a", "v"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/kv/a", "/kv/missing", "/kv/", "/clear"} {
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("GET %s: Content-Type %q, want text/plain", path, ct)
		}
	}
}

func TestConcurrentWrites(t *testing.T) {
	srv := newTestServer(t, "")
	if err := checkConcurrentWrites(client(), srv.URL, 200); err != nil {
		t.Fatal(err)
	}
}

// checkConcurrentWrites writes n distinct keys and n values of one key
// concurrently, then checks that every distinct key holds its value and
// the shared key holds one of the values written, intact.
func checkConcurrentWrites(c *http.Client, base string, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			if err := expect(c, "PUT", fmt.Sprintf("%s/kv/key-%d", base, i), fmt.Sprintf("value-%d", i), 200, nil); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			if err := expect(c, "PUT", base+"/kv/shared", fmt.Sprintf("shared value %d", i), 200, nil); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	var lost []int
	for i := range n {
		if err := expect(c, "GET", fmt.Sprintf("%s/kv/key-%d", base, i), "", 200, ptr(fmt.Sprintf("value-%d", i))); err != nil {
			lost = append(lost, i)
		}
	}
	if len(lost) > 0 {
		return fmt.Errorf("%d of %d concurrent writes to distinct keys were lost (e.g. key-%d)", len(lost), n, lost[0])
	}
	status, got, err := do(c, "GET", base+"/kv/shared", "")
	if err != nil {
		return err
	}
	var i int
	if _, scanErr := fmt.Sscanf(got, "shared value %d", &i); status != 200 || scanErr != nil || got != fmt.Sprintf("shared value %d", i) || i >= n {
		return fmt.Errorf("after %d concurrent writes to one key, GET answered %d %q, want one of the values written", n, status, clip(got))
	}
	return nil
}
