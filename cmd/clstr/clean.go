package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/attest/docker"
)

func cleanCommand() *cli.Command {
	return &cli.Command{
		Name:  "clean",
		Usage: "remove the containers, networks and volumes of runs that are gone",
		Description: "A run removes everything it created when it ends, also after Ctrl-C; a runner\n" +
			"killed outright leaves labelled resources behind, which the next run removes. This\n" +
			"removes them now. With --all it also removes those of runs still going on.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "also remove the resources of runs still going on"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{"clean: takes no arguments"}
			}
			cli, err := docker.Connect(c.Context)
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "clstr: %v\n", err)
				return exitStatus(exitError)
			}
			defer cli.Close()
			res, err := docker.Clean(c.Context, cli, docker.CleanOptions{All: c.Bool("all")})
			fmt.Fprintln(c.App.Writer, cleaned(res))
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "clstr: clean: %v\n", err)
				return exitStatus(exitError)
			}
			return nil
		},
	}
}

// cleaned says what Clean removed: "removed 2 containers, 1 network".
func cleaned(r docker.CleanResult) string {
	var parts []string
	for _, c := range []struct {
		n    int
		what string
	}{{r.Containers, "container"}, {r.Networks, "network"}, {r.Volumes, "volume"}} {
		switch {
		case c.n == 1:
			parts = append(parts, "1 "+c.what)
		case c.n > 1:
			parts = append(parts, fmt.Sprintf("%d %ss", c.n, c.what))
		}
	}
	if len(parts) == 0 {
		return "nothing to remove"
	}
	return "removed " + strings.Join(parts, ", ")
}
