package render

import (
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	tests := []struct{ in, want time.Duration }{
		{1234 * time.Millisecond, 1200 * time.Millisecond},
		{5*time.Second + 3*time.Millisecond, 5 * time.Second},
		{250*time.Millisecond + 400*time.Microsecond, 250 * time.Millisecond},
		{830*time.Microsecond + 200*time.Nanosecond, 830 * time.Microsecond},
	}
	for _, tc := range tests {
		if got := Duration(tc.in); got != tc.want {
			t.Errorf("Duration(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
