package docker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/versions"
)

// TestConnectSettlesTheVersion checks that Connect leaves a client whose
// API version is already the daemon's, so that the concurrent first
// requests of a cluster's start do not each negotiate it (a data race in
// the client, which -race reports).
func TestConnectSettlesTheVersion(t *testing.T) {
	dockerOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ping, err := cli.Ping(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The client speaks the daemon's version, or its own newest if the
	// daemon's is newer still.
	want := ping.APIVersion
	if versions.LessThan(api.DefaultVersion, want) {
		want = api.DefaultVersion
	}
	if got := cli.ClientVersion(); got != want {
		t.Errorf("after Connect the client speaks API %s; want %s (the daemon offers %s)", got, want, ping.APIVersion)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := cli.ContainerList(ctx, container.ListOptions{Limit: 1}); err != nil {
				t.Error(err)
			}
			if _, err := cli.NetworkList(ctx, network.ListOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
