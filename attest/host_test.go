package attest

import (
	"strings"
	"testing"
)

func TestSameHost(t *testing.T) {
	base := "http://127.0.0.1:8080"
	tests := []struct {
		path string
		ok   bool
	}{
		{"/kv/a", true},
		{"//example.com/x", true}, // a path on the node, odd but harmless
		{"/a?b=c#d", true},
		{"@127.0.0.2:1/", false},
		{":1@127.0.0.2/", false},
		{"0.example.com/", false},
		{"/\x7f", false},
		{"/x\ny", false},
	}
	for _, tc := range tests {
		err := sameHost(base, base+tc.path)
		if (err == nil) != tc.ok {
			t.Errorf("sameHost(%q) = %v; want ok %v", tc.path, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "path") {
			t.Errorf("sameHost(%q): %v does not mention the path", tc.path, err)
		}
	}
}
