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
		Description: "Connects to the Docker daemon, starts a throwaway clstr-netd sandbox and asks\n" +
			"it what the kernel offers for impairments: netem, or nftables loss and the\n" +
			"NFQUEUE shaper. Partitions need only nftables, which every supported kernel has.",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{"doctor: takes no arguments"}
			}
			d, err := docker.Diagnose(c.Context)
			if d.Daemon != "" {
				fmt.Fprintf(c.App.Writer, "docker:      %s\n", d.Daemon)
			}
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "clstr: %v\n", err)
				return exitStatus(exitError)
			}
			// "impairments: via nftables+nfqueue (netem: no: …; …)"
			fmt.Fprintf(c.App.Writer, "impairments: %s\n", d.Impairments)
			return nil
		},
	}
}
