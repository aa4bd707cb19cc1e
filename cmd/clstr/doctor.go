package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/attest/docker"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check that this host can run clusters and inject every fault",
		Description: "Names the Docker endpoint and where it came from (DOCKER_HOST, DOCKER_CONTEXT,\n" +
			"the docker config's current context, or the default socket), connects to the\n" +
			"daemon, starts a throwaway clstr-netd sandbox and asks it what the kernel\n" +
			"offers for impairments: netem, or nftables loss and the NFQUEUE shaper.\n" +
			"Partitions need only nftables, which every supported kernel has. Then it mounts\n" +
			"a FUSE file system in a throwaway container, as a suite with durability does\n" +
			"in every node for power losses.",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{"doctor: takes no arguments"}
			}
			d, err := docker.Diagnose(c.Context)
			if d.Endpoint != "" {
				// "endpoint:    unix:///…/docker.sock (from docker context "colima" (DOCKER_CONTEXT))"
				fmt.Fprintf(c.App.Writer, "endpoint:    %s\n", d.Endpoint)
			}
			if d.Daemon != "" {
				fmt.Fprintf(c.App.Writer, "docker:      %s\n", d.Daemon)
			}
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "clstr: %v\n", err)
				return exitStatus(exitError)
			}
			// "impairments: via nftables+nfqueue (netem: no: …; …)"
			fmt.Fprintf(c.App.Writer, "impairments: %s\n", d.Impairments)
			// "durability:  available (FUSE in the node's container)"
			fmt.Fprintf(c.App.Writer, "durability:  %s\n", d.Durability)
			return nil
		},
	}
}
