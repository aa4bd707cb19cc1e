package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/bazelbuild/buildtools/build"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/urfave/cli/v2"
	"go.starlark.net/syntax"

	"github.com/clstr-dev/clstr/internal/atomicfile"
	"github.com/clstr-dev/clstr/internal/inroot"
	"github.com/clstr-dev/clstr/starlark"
)

func fmtCommand() *cli.Command {
	return &cli.Command{
		Name:      "fmt",
		Usage:     "format Starlark scripts",
		ArgsUsage: "[FILE|DIR…]",
		Description: "Formats .star files in the one layout every clstr script shares: four-space indents,\n" +
			"one blank line between top-level definitions, spaces around operators, double quotes.\n" +
			"It changes only the layout: it never reorders statements, loads or arguments. A directory\n" +
			"means every .star file below it; no file means standard input.\n\n" +
			"Without -w or -d, the formatted files are printed. With -w, each file that is not\n" +
			"formatted is rewritten in place (atomically). With -d, a diff of what would change is\n" +
			"printed, and the exit status is 1 if a file is not formatted, which makes\n" +
			"`clstr fmt -d .` a check for CI.\n\n" +
			"Exit status: 0 done (with -d: every file is formatted), 1 with -d: a file is not\n" +
			"formatted, 2 a file could not be parsed or written (or bad usage).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "w", Usage: "rewrite the files that are not formatted"},
			&cli.BoolFlag{Name: "d", Usage: "print a diff of the changes and exit 1 if there are any"},
		},
		Action: fmtAction,
	}
}

func fmtAction(c *cli.Context) error {
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	write, diff := c.Bool("w"), c.Bool("d")
	if c.NArg() == 0 {
		if write {
			return usageError{"fmt: -w needs files to rewrite: clstr fmt -w FILE…"}
		}
		src, err := io.ReadAll(c.App.Reader)
		if err != nil {
			return err
		}
		out, err := formatStar("<stdin>", src)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return exitStatus(exitError)
		}
		if diff {
			if !bytes.Equal(src, out) {
				io.WriteString(stdout, unifiedDiff("<stdin>", src, out))
				return exitStatus(exitFail)
			}
			return nil
		}
		stdout.Write(out)
		return nil
	}
	files, err := starFiles(c.Args().Slice())
	if err != nil {
		return err
	}
	failed, changed := false, false
	for _, f := range files {
		src, err := inroot.ReadFile("", f, 0)
		if err != nil {
			fmt.Fprintf(stderr, "clstr: %s: %v\n", f, err)
			failed = true
			continue
		}
		out, err := formatStar(f, src)
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			failed = true
			continue
		}
		same := bytes.Equal(src, out)
		changed = changed || !same
		if diff && !same {
			io.WriteString(stdout, unifiedDiff(f, src, out))
		}
		if write && !same {
			if err := writeAtomically(f, out); err != nil {
				fmt.Fprintf(stderr, "clstr: %v\n", err)
				failed = true
			}
		}
		if !write && !diff {
			stdout.Write(out)
		}
	}
	switch {
	case failed:
		return exitStatus(exitError)
	case diff && changed:
		return exitStatus(exitFail)
	}
	return nil
}

// formatStar returns src in the canonical layout. It only prints what it
// parsed: none of the formatter's rewrites for Bazel files (sorted loads,
// reordered arguments) are applied.
func formatStar(name string, src []byte) ([]byte, error) {
	bom := []byte("\ufeff") // kept as it was: editors on Windows write one
	hasBOM := bytes.HasPrefix(src, bom)
	src, loopVar, err := prepareForFormatter(name, bytes.TrimPrefix(src, bom))
	if err != nil {
		return nil, err
	}
	f, err := build.ParseDefault(name, src)
	if err != nil {
		return nil, err
	}
	out := build.FormatWithoutRewriting(f)
	if loopVar != "" {
		out = regexp.MustCompile(`(?m)^([ \t]*)for `+loopVar+` in `).ReplaceAll(out, []byte("${1}while "))
	}
	if hasBOM {
		out = append(bom, out...)
	}
	return out, nil
}

// prepareForFormatter hands the formatter's parser, which was made for
// Bazel files, what clstr's dialect allows and it does not know. Each
// while loop becomes a for loop over its condition under a name the
// script does not use (loopVar, to be turned back after formatting), and
// tabs in indentation become spaces, to the next multiple of eight
// columns as clstr's parser counts them. Both are found by clstr's own
// parser, so a syntax error has the script's own positions, and nothing
// inside a string literal changes.
func prepareForFormatter(name string, src []byte) (out []byte, loopVar string, err error) {
	if !bytes.Contains(src, []byte("while")) && !bytes.Contains(src, []byte("\t")) {
		return src, "", nil
	}
	f, err := starlark.Dialect().Parse(name, src, syntax.RetainComments)
	if err != nil {
		return nil, "", err
	}
	lines := lineOffsets(src)
	offset := func(p syntax.Position) int {
		start := lines[p.Line-1]
		return start + byteColumn(src[start:], int(p.Col))
	}
	var whiles [][2]int // the byte range of each "while" keyword
	var strs [][2]int   // and of each string literal
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.WhileStmt:
			at := offset(n.While)
			whiles = append(whiles, [2]int{at, at + len("while")})
		case *syntax.Literal:
			if n.Token == syntax.STRING || n.Token == syntax.BYTES {
				from, to := n.Span()
				strs = append(strs, [2]int{offset(from), offset(to)})
			}
		}
		return true
	})
	loopVar = "_while_"
	for bytes.Contains(src, []byte(loopVar)) {
		loopVar += "_"
	}
	inString := func(at int) bool {
		for _, s := range strs {
			if s[0] < at && at < s[1] {
				return true
			}
		}
		return false
	}
	var b bytes.Buffer
	for i, start := range lines {
		end := len(src)
		if i+1 < len(lines) {
			end = lines[i+1]
		}
		line := src[start:end]
		if !inString(start) {
			line = expandIndent(line)
		}
		for j := len(whiles) - 1; j >= 0; j-- { // from the right: offsets stay valid
			w := whiles[j]
			if w[0] >= start && w[1] <= end {
				at := w[0] - start + len(line) - (end - start)
				line = append(append(append([]byte{}, line[:at]...), "for "+loopVar+" in"...), line[at+len("while"):]...)
			}
		}
		b.Write(line)
	}
	if len(whiles) == 0 {
		loopVar = ""
	}
	return b.Bytes(), loopVar, nil
}

// expandIndent turns the tabs of line's indentation into spaces.
func expandIndent(line []byte) []byte {
	col, i := 0, 0
	for ; i < len(line) && (line[i] == ' ' || line[i] == '\t'); i++ {
		if line[i] == '\t' {
			col += 8 - col%8
		} else {
			col++
		}
	}
	if !bytes.Contains(line[:i], []byte("\t")) {
		return line
	}
	return append(bytes.Repeat([]byte(" "), col), line[i:]...)
}

// lineOffsets returns the byte offset at which each line of src starts.
func lineOffsets(src []byte) []int {
	offs := []int{0}
	for i, c := range src {
		if c == '\n' && i+1 < len(src) {
			offs = append(offs, i+1)
		}
	}
	return offs
}

// byteColumn turns the parser's 1-based column on line (counted in
// runes) into a byte offset from the start of the line.
func byteColumn(line []byte, col int) int {
	off := 0
	for i := 1; i < col && off < len(line); i++ {
		_, size := utf8.DecodeRune(line[off:])
		off += size
	}
	return off
}

// writeAtomically replaces the file at path by data, keeping its mode, so
// that the file is never seen half written.
func writeAtomically(path string, data []byte) error {
	st, err := os.Stat(path)
	if err == nil {
		err = atomicfile.WriteFile(path, data, st.Mode().Perm())
	}
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", path, err)
	}
	return nil
}

// unifiedDiff is the diff from src to out, as diff -u prints it.
func unifiedDiff(name string, src, out []byte) string {
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(string(src)),
		B:        difflib.SplitLines(string(out)),
		FromFile: name,
		ToFile:   name + " (formatted)",
		Context:  3,
	})
	if err != nil {
		return fmt.Sprintf("%s: not formatted (%v)\n", name, err)
	}
	if !strings.HasSuffix(d, "\n") {
		d += "\n"
	}
	return d
}
