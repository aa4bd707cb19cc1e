package docker

import (
	"context"
	"strings"
	"testing"
)

func TestDiagnose(t *testing.T) {
	dockerOrSkip(t)
	d, err := Diagnose(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n%s\n%s", d.Daemon, d.Impairments, d.Durability)
	if !strings.HasPrefix(d.Durability, "available") && !strings.HasPrefix(d.Durability, "unavailable") {
		t.Errorf("durability %q, want \"available …\" or \"unavailable (…)\"", d.Durability)
	}
	if d.Daemon == "" || d.Impairments == "" {
		t.Fatalf("empty diagnosis %+v", d)
	}
	// clstr doctor prints it after "impairments: ".
	if !strings.HasPrefix(d.Impairments, "via ") && !strings.HasPrefix(d.Impairments, "unavailable") {
		t.Errorf("impairments %q, want \"via PATH (…)\" or \"unavailable (…)\"", d.Impairments)
	}
}
