package cluster

import (
	"reflect"
	"strings"
	"testing"
)

func TestTrafficSince(t *testing.T) {
	n1n2, n2n1 := Pair{"n1", "n2"}, Pair{"n2", "n1"}
	tests := []struct {
		name           string
		later, earlier Traffic
		want           Traffic
		err            string
	}{
		{"grown", Traffic{n1n2: {10, 1000}, n2n1: {3, 300}}, Traffic{n1n2: {4, 400}, n2n1: {3, 300}},
			Traffic{n1n2: {6, 600}, n2n1: {0, 0}}, ""},
		{"a pair the earlier reading lacks counts from zero", Traffic{n1n2: {2, 56}}, Traffic{}, Traffic{n1n2: {2, 56}}, ""},
		{"counts that went down", Traffic{n1n2: {1, 28}}, Traffic{n1n2: {2, 56}}, nil,
			"what n1 sent n2 went down, from 2 packets, 56 bytes to 1 packets, 28 bytes: the counters were reset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.later.Since(tc.earlier)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Since: %v, want an error %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Since = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if got := (Traffic{n1n2: {2, 56}, n2n1: {1, 100}}).Total(); got != (Count{3, 156}) {
		t.Errorf("Total = %v", got)
	}
}
