package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/internal/suggest"
	"github.com/clstr-dev/clstr/registry"
)

// didYouMean returns " (did you mean X?)" for the choice that word most
// likely misspells, or "" when none is near enough to be a typo.
func didYouMean(word string, choices []string) string {
	if c, ok := suggest.Closest(word, choices); ok {
		return fmt.Sprintf(" (did you mean %s?)", c)
	}
	return ""
}

// didYouMeanStage suggests the stage of c that key misspells.
func didYouMeanStage(c *registry.Challenge, key string) string {
	keys := make([]string, len(c.Stages))
	for i, s := range c.Stages {
		keys[i] = s.Key
	}
	return didYouMean(key, keys)
}

// unknownCommand returns the usage error for args whose command clstr
// does not have, or nil: the first word that is not a flag names the
// command.
func unknownCommand(app *cli.App, args []string) error {
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") {
			continue
		}
		if a == "help" || a == "h" || app.Command(a) != nil {
			return nil
		}
		var names []string
		for _, c := range app.Commands {
			if !c.Hidden {
				names = append(names, c.Name)
			}
		}
		return usageError{fmt.Sprintf("no command %q%s", a, didYouMean(a, names))}
	}
	return nil
}

// flagUsageError turns the flag library's "flag provided but not
// defined: -bianry" into one line that names the flag as clstr's help
// does and suggests the flag meant.
func flagUsageError(c *cli.Context, err error) error {
	prefix := ""
	flags := c.App.Flags
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		prefix, flags = c.Command.Name+": ", c.Command.Flags
	}
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: ")
	if !ok {
		return usageError{prefix + err.Error()}
	}
	name = strings.TrimLeft(name, "-")
	var names []string
	for _, f := range flags {
		names = append(names, f.Names()...)
	}
	suggestion := ""
	if meant, ok := suggest.Closest(name, names); ok {
		suggestion = fmt.Sprintf(" (did you mean %s?)", flagName(meant))
	}
	return usageError{fmt.Sprintf("%sno flag %s%s", prefix, flagName(name), suggestion)}
}

// flagName writes a flag as clstr's help does: --binary, -w.
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}
