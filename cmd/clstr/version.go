package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
)

// version is what `clstr version` and `clstr --version` print after
// "clstr version ".
var version = versionText(debug.ReadBuildInfo())

// versionText reads the module version and the VCS revision from a build
// info: "v1.2.0 (revision 0123456789ab, 2026-12-07T12:50:19Z,
// go1.26.0 darwin/arm64)"; a build from a checkout with changes not
// committed says "modified" after the revision.
func versionText(bi *debug.BuildInfo, ok bool) string {
	platform := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if !ok {
		return "unknown (no build information; " + platform + ")"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var details []string
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		rev = "revision " + rev
		if settings["vcs.modified"] == "true" {
			rev += " modified"
		}
		details = append(details, rev)
	}
	if t := settings["vcs.time"]; t != "" {
		details = append(details, t)
	}
	if bi.GoVersion != "" {
		platform = bi.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
	}
	details = append(details, platform)
	return v + " (" + strings.Join(details, ", ") + ")"
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print clstr's version and the revision it was built from",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{"version: takes no arguments"}
			}
			fmt.Fprintf(c.App.Writer, "%s version %s\n", c.App.Name, c.App.Version)
			return nil
		},
	}
}
