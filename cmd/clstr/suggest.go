package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/registry"
)

// didYouMean returns " (did you mean X?)" for the choice that word most
// likely misspells, or "" when none is near enough to be a typo.
func didYouMean(word string, choices []string) string {
	if c, ok := closest(word, choices); ok {
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

// closest returns the choice nearest to word by edit distance, if it is
// within what a typo makes of a word that long: one edit up to four
// letters, two up to nine, a third of the word beyond. A word that begins
// exactly one choice counts too.
func closest(word string, choices []string) (string, bool) {
	best, bestDist := "", -1
	prefixOf := ""
	prefixes := 0
	for _, c := range choices {
		if c == word {
			return c, true
		}
		if word != "" && strings.HasPrefix(c, word) {
			prefixOf = c
			prefixes++
		}
		if d := editDistance(word, c); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	n := len([]rune(word))
	limit := max(1, n/3)
	switch {
	case n <= 4:
		limit = 1
	case n <= 9:
		limit = 2
	}
	if bestDist >= 0 && bestDist <= limit && bestDist < n {
		return best, true
	}
	if prefixes == 1 {
		return prefixOf, true
	}
	return "", false
}

// editDistance is the Damerau–Levenshtein distance (optimal string
// alignment) between a and b: inserts, deletes, changes and swaps of two
// neighbouring letters, the usual typos.
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
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
	if meant, ok := closest(name, names); ok {
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
