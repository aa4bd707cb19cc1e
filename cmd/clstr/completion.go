package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/clstr-dev/clstr/internal/runlog"
	"github.com/clstr-dev/clstr/registry"
)

// completionFlag is the hidden flag with which a shell asks clstr for the
// words that may stand where CURRENT (perhaps "") is being typed: "clstr
// WORDS… CURRENT --generate-bash-completion". clstr answers it before
// reading any other argument, so no command ever runs for a completion.
const completionFlag = "--generate-bash-completion"

// completionRequest returns what is typed before the word being
// completed, and that word, when args ask for completions.
func completionRequest(args []string) (typed []string, current string, ok bool) {
	if len(args) < 3 || args[len(args)-1] != completionFlag {
		return nil, "", false
	}
	n := len(args) - 2
	return args[1:n], args[n], true
}

// complete returns the words that may stand where current is being typed
// after typed: commands, a command's flags, the values a flag takes, and
// each command's arguments (challenges, the workspace's stages, nodes
// that have logs). None means a file name goes there.
func complete(app *cli.App, dir string, typed []string, current string) []string {
	var words []string
	for _, w := range candidates(app, dir, typed, current) {
		if strings.HasPrefix(w, current) {
			words = append(words, w)
		}
	}
	return words
}

// candidates returns every word that may stand where current is typed,
// whatever current already holds.
func candidates(app *cli.App, dir string, typed []string, current string) []string {
	var cmd *cli.Command
	var args []string
	argsOnly := false // after "--"
	for i := 0; i < len(typed); i++ {
		w := typed[i]
		if cmd == nil {
			if strings.HasPrefix(w, "-") {
				continue
			}
			if w == "help" {
				cmd = &cli.Command{Name: "help"}
			} else if cmd = app.Command(w); cmd == nil {
				return nil
			}
			continue
		}
		if w == "--" {
			args, argsOnly = append(args, typed[i+1:]...), true
			break
		}
		if strings.HasPrefix(w, "-") {
			if f := commandFlag(cmd, w); f != nil && takesValue(f) && !strings.Contains(w, "=") {
				if i+1 == len(typed) {
					return flagValues(f)
				}
				i++
			}
			continue
		}
		args = append(args, w)
	}
	dashed := strings.HasPrefix(current, "-") && !argsOnly
	switch {
	case cmd == nil && dashed:
		return flagWords(app.Flags)
	case cmd == nil:
		var words []string
		for _, c := range app.Commands {
			if !c.Hidden && c.Name != "help" {
				words = append(words, c.Name)
			}
		}
		return append(words, "help")
	case dashed:
		return flagWords(cmd.Flags)
	}
	return commandArgs(app, cmd.Name, dir, args)
}

// commandFlag returns cmd's flag written as w ("--follow", "-f", "--run=x").
func commandFlag(cmd *cli.Command, w string) cli.Flag {
	name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
	for _, f := range cmd.Flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}

func takesValue(f cli.Flag) bool {
	_, isBool := f.(*cli.BoolFlag)
	return !isBool
}

// flagWords lists flags by their first names, as clstr's help shows
// them: two dashes, one for a one-letter name.
func flagWords(flags []cli.Flag) []string {
	var words []string
	for _, f := range flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		name := f.Names()[0]
		if len(name) == 1 {
			words = append(words, "-"+name)
		} else {
			words = append(words, "--"+name)
		}
	}
	return append(words, "--help")
}

// flagValues lists what may follow a flag that takes a value.
func flagValues(f cli.Flag) []string {
	if f.Names()[0] == "language" {
		return slices.Clone(languages)
	}
	return nil
}

// commandArgs lists what may stand as an argument of the command name.
func commandArgs(app *cli.App, name, dir string, args []string) []string {
	switch name {
	case "init":
		if len(args) == 0 {
			var keys []string
			for _, c := range registry.Default.Challenges() {
				keys = append(keys, c.Key)
			}
			return keys
		}
	case "test", "next":
		if len(args) == 0 {
			if w, err := openWorkspace(dir, registry.Default); err == nil {
				var keys []string
				for _, s := range w.challenge.Stages {
					keys = append(keys, s.Key)
				}
				return keys
			}
		}
	case "logs":
		return loggedNodes(filepath.Join(dir, logDir), args)
	case "completion":
		if len(args) == 0 {
			return []string{"bash", "zsh", "fish"}
		}
	case "help":
		if len(args) == 0 {
			return complete(app, dir, nil, "")
		}
	}
	return nil
}

// loggedNodes lists the nodes with a log in logs, but those already named.
func loggedNodes(logs string, named []string) []string {
	all, _ := runlog.Nodes(logs)
	var nodes []string
	for _, node := range all {
		if !slices.Contains(named, node) {
			nodes = append(nodes, node)
		}
	}
	return nodes
}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "Prints a script that completes clstr's commands and flags, and file names where a\n" +
			"script or a target goes. Load it in the current shell, or install it:\n\n" +
			"  bash:  source <(clstr completion bash)    # or save it in /etc/bash_completion.d/clstr\n" +
			"  zsh:   source <(clstr completion zsh)     # after compinit, e.g. in ~/.zshrc\n" +
			"  fish:  clstr completion fish > ~/.config/fish/completions/clstr.fish\n\n" +
			"Each shell asks clstr itself what may follow (commands, flags, challenges, stages,\n" +
			"languages, nodes with logs), so completion always matches the installed version.",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError{"completion: name the shell: clstr completion bash|zsh|fish"}
			}
			w := c.App.Writer
			switch c.Args().First() {
			case "bash":
				return script(w, bashCompletion)
			case "zsh":
				return script(w, zshCompletion)
			case "fish":
				return script(w, fishCompletion)
			}
			return usageError{fmt.Sprintf("completion: no completion for %q: choose bash, zsh or fish", c.Args().First())}
		},
	}
}

func script(w io.Writer, s string) error {
	_, err := io.WriteString(w, s)
	return err
}

// bashCompletion asks clstr for the candidates of the word being typed;
// when it has none (a script or a directory goes there), bash completes
// file names.
const bashCompletion = `# bash completion for clstr; load with: source <(clstr completion bash)
_clstr() {
	local cur words
	cur="${COMP_WORDS[COMP_CWORD]}"
	words=$("${COMP_WORDS[@]:0:COMP_CWORD}" "$cur" ` + completionFlag + ` 2>/dev/null)
	COMPREPLY=($(compgen -W "$words" -- "$cur"))
	if [[ ${#COMPREPLY[@]} -eq 0 ]]; then
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}
complete -o filenames -o bashdefault -F _clstr clstr
`

// zshCompletion does the same for zsh, with each command's usage beside
// it.
const zshCompletion = `#compdef clstr
# zsh completion for clstr; load with: source <(clstr completion zsh)
_clstr() {
	local -a candidates
	local cur=${words[CURRENT]}
	candidates=("${(@f)$(${words[1,CURRENT-1]} "$cur" ` + completionFlag + ` 2>/dev/null)}")
	if [[ -n "${candidates[1]}" ]]; then
		_describe 'clstr' candidates
	else
		_files
	fi
}
compdef _clstr clstr
`

// fishCompletion does the same for fish: clstr's words where it has some,
// file names where it has none.
const fishCompletion = `# fish completion for clstr; install with: clstr completion fish > ~/.config/fish/completions/clstr.fish
function __clstr_complete
	set -l words (commandline -opc)
	$words (commandline -ct) ` + completionFlag + ` 2>/dev/null
end
complete -c clstr -n 'count (__clstr_complete) >/dev/null' -f -a '(__clstr_complete)'
`
