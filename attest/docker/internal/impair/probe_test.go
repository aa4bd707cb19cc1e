//go:build linux

package impair

import "testing"

func TestSupportString(t *testing.T) {
	yes, no := Feature{OK: true}, Feature{Reason: "missing"}
	tests := []struct {
		name string
		s    Support
		want string
	}{
		{"netem", Support{Netem: yes, NftablesLoss: yes, NFQueue: yes},
			"via netem (netem: yes; nftables loss: yes; nfqueue: yes)"},
		{"shaper", Support{Netem: no, NftablesLoss: yes, NFQueue: yes},
			"via nftables+nfqueue (netem: no: missing; nftables loss: yes; nfqueue: yes)"},
		{"none", Support{Netem: no, NftablesLoss: yes, NFQueue: no},
			"unavailable (netem: no: missing; nftables loss: yes; nfqueue: no: missing)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// clstr doctor prints it after "impairments: ".
			if got := tc.s.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
