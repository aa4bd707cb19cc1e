package bytesize

import "testing"

func TestFormat(t *testing.T) {
	tests := []struct {
		name string
		n    int64
		want string
	}{
		{"zero", 0, "0 bytes"},
		{"bytes", 100, "100 bytes"},
		{"just under a KiB", 1023, "1023 bytes"},
		{"KiB", 512 << 10, "512 KiB"},
		{"KiB and a half", 1536, "1.5 KiB"},
		{"MiB", 4 << 20, "4 MiB"},
		{"MiB in KiB", 4<<20 + 1<<10, "4097 KiB"},
		{"decimal MB", 4e6, "3.8 MiB"},
		{"GiB", 2 << 30, "2 GiB"},
		{"GiB and a half in MiB", 3 << 29, "1536 MiB"},
		{"GiB, not a round number", 1<<30 + 1, "1.0 GiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Format(tc.n); got != tc.want {
				t.Errorf("Format(%d) = %q; want %q", tc.n, got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want int64 // 0: an error
	}{
		{"1048576", 1 << 20},
		{"512KiB", 512 << 10},
		{"4MiB", 4 << 20},
		{"4 MiB", 4 << 20},
		{"1GiB", 1 << 30},
		{"4KB", 4e3},
		{"4MB", 4e6},
		{"1GB", 1e9},
		{"100B", 100},
		{"100 bytes", 100},
		{"", 0},
		{"0", 0},
		{"-5MiB", 0},
		{"1.5GiB", 0},
		{"lots", 0},
		{"9999999999GiB", 0},
		{"4 TiB", 0},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			switch {
			case tc.want == 0 && err == nil:
				t.Errorf("Parse(%q) = %d; want an error", tc.in, got)
			case tc.want != 0 && (err != nil || got != tc.want):
				t.Errorf("Parse(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestRoundTrip checks that Parse reads what Format writes of a size it
// writes exactly.
func TestRoundTrip(t *testing.T) {
	for _, n := range []int64{1, 100, 1 << 10, 3 << 10, 4097 << 10, 64 << 20, 1536 << 20, 2 << 30, 1 << 40} {
		got, err := Parse(Format(n))
		if err != nil || got != n {
			t.Errorf("Parse(Format(%d) = %q) = %d, %v", n, Format(n), got, err)
		}
	}
}
