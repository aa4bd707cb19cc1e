package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// completionFlag is the hidden flag with which the shell asks clstr for
// the words that may follow what is typed (urfave/cli's bash completion).
const completionFlag = "--generate-bash-completion"

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
			"bash and zsh ask clstr itself what may follow, so they always match the installed\n" +
			"version; fish's script lists the commands and flags once.",
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
				s, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				return script(w, s)
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
	if [[ "$cur" == -* ]]; then
		words=$("${COMP_WORDS[@]:0:COMP_CWORD}" "$cur" ` + completionFlag + ` 2>/dev/null)
	else
		words=$("${COMP_WORDS[@]:0:COMP_CWORD}" ` + completionFlag + ` 2>/dev/null)
	fi
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
	if [[ "$cur" == -* ]]; then
		candidates=("${(@f)$(${words[1,CURRENT-1]} "$cur" ` + completionFlag + ` 2>/dev/null)}")
	else
		candidates=("${(@f)$(${words[1,CURRENT-1]} ` + completionFlag + ` 2>/dev/null)}")
	fi
	if [[ -n "${candidates[1]}" ]]; then
		_describe 'clstr' candidates
	else
		_files
	fi
}
compdef _clstr clstr
`
