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
			"removes them now. With --all it also removes those of runs still going on.\n\n" +
			"Images are kept between runs so that an unchanged target starts at once. With\n" +
			"--images it also removes the images clstr built (sandbox images, and targets built\n" +
			"from a directory or wrapped from a binary) that no container uses; the next run\n" +
			"builds what it needs again. Images clstr did not build are never touched.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Usage: "also remove the resources of runs still going on"},
			&cli.BoolFlag{Name: "images", Usage: "also remove the images clstr built that no container uses"},
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
			res, err := docker.Clean(c.Context, cli, docker.CleanOptions{All: c.Bool("all"), Images: c.Bool("images")})
			fmt.Fprintln(c.App.Writer, cleaned(res))
			if err != nil {
				fmt.Fprintf(c.App.ErrWriter, "clstr: clean: %v\n", err)
				return exitStatus(exitError)
			}
			return nil
		},
	}
}

// cleaned says what Clean removed: "removed 2 containers, 1 network",
// and which images stayed because a run uses them.
func cleaned(r docker.CleanResult) string {
	var parts []string
	for _, c := range []struct {
		n    int
		what string
	}{{r.Containers, "container"}, {r.Networks, "network"}, {r.Volumes, "volume"}, {r.Images, "image"}} {
		if c.n > 0 {
			parts = append(parts, plural(c.n, c.what))
		}
	}
	s := "nothing to remove"
	if len(parts) > 0 {
		s = "removed " + strings.Join(parts, ", ")
	}
	if r.ImagesInUse > 0 {
		s += fmt.Sprintf("; kept %s that a run still uses (--all removes the runs first)", plural(r.ImagesInUse, "image"))
	}
	return s
}
