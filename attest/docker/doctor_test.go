package docker

import (
	"context"
	"testing"
)

func TestDiagnose(t *testing.T) {
	dockerOrSkip(t)
	d, err := Diagnose(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n%s", d.Daemon, d.Impairments)
	if d.Daemon == "" || d.Impairments == "" {
		t.Fatalf("empty diagnosis %+v", d)
	}
}
