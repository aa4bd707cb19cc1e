package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clstr-dev/clstr/registry"
)

// clstrHere runs clstr in this process with args and returns its exit status and
// output.
func clstrHere(args ...string) (status int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	status = run(context.Background(), append([]string{"clstr"}, args...), &out, &errOut)
	return status, out.String(), errOut.String()
}

// writeFiles writes files (name → content) under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"good.star":             "load(\"lib/helpers.star\", \"ok\")\nload(\"@stdlib//kv.star\", \"kv_put\")\nsuite()\ntest(\"t\", ok)\n",
		"lib/helpers.star":      "def ok():\n    get(\"n1\", \"/health\").status(200).run()\n",
		"syntax.star":           "suite()\n\ndef t(:\n    pass\n",
		"undefined.star":        "load(\"lib/broken.star\", \"x\")\ntest(\"t\", lambda: x)\n",
		"lib/broken.star":       "x = 1\ny = nope + also_nope\n",
		"noload.star":           "load(\"missing.star\", \"x\")\n",
		"module.star":           "def helper():\n    return 1\n",
		"bom.star":              "\ufeffsuite()\ntest(\"t\", lambda: None)\n",
		"bom-error.star":        "\ufeffy = nope\n",
		"run/missing-name.star": "load(\"helpers.star\", \"helpr\")\ntest(\"t\", lambda: None)\n",
		"run/helpers.star":      "def helper():\n    return 1\n",
		"run/suite-twice.star":  "suite()\nsuite()\ntest(\"t\", lambda: None)\n",
		"run/suite-type.star":   "suite(cluster = \"three\")\ntest(\"t\", lambda: None)\n",
		"run/no-test.star":      "suite(cluster = 3)\n",
		"run/typo.star":         "def t():\n    get(\"n1\", \"/health\").eventualy(\"5s\").run()\n\ntest(\"t\", t)\n",
		"unrun/stage.star":      "load(\"helpers.star\", \"up\")\nsuite()\n\ndef t():\n    up()\n    get(\"n1\", \"/health\").status(500)\n\ntest(\"t\", t)\n",
		"unrun/helpers.star":    "def up():\n    get(\"n1\", \"/health\").status(200).hint(\"up\")\n",
	})
	p := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name   string
		args   []string
		status int
		want   []string
	}{
		{"a stage with loads", []string{p("good.star")}, 0, nil},
		{"a module that registers no test", []string{p("module.star")}, 0, nil},
		{"a byte order mark", []string{p("bom.star")}, 0, nil},
		{"a byte order mark before an error", []string{p("bom-error.star")}, 2, []string{"bom-error.star:1:5: undefined: nope"}},
		{"a syntax error", []string{p("syntax.star")}, 2, []string{"syntax.star:3:8: got ':', want"}},
		{"every resolve error of a loaded module", []string{p("undefined.star")}, 2, []string{
			"broken.star:2:5: undefined: nope", "broken.star:2:12: undefined: also_nope"}},
		{"a load of a missing file", []string{p("noload.star")}, 2, []string{"noload.star:1:6: cannot load missing.star: no such file"}},
		{"every broken script, not only the first", []string{p("syntax.star"), p("good.star"), p("noload.star")}, 2, []string{
			"syntax.star:3:8:", "noload.star:1:6:"}},
		{"a directory", []string{dir}, 2, []string{"syntax.star:3:8:", "broken.star:2:5:", "noload.star:1:6:", "bom-error.star:1:5:"}},
		{"checks built and never run, in the stage and a module it loads", []string{p("unrun/stage.star")}, 2, []string{
			"helpers.star:2:42: get(…).status(…).hint(…) builds a check and never runs it, so it sends nothing and checks nothing: add .run()",
			"stage.star:6:32: get(…).status(…) builds a check and never runs it"}},
		{"what run rejects before a cluster starts, and typos", []string{p("run")}, 2, []string{
			"missing-name.star:1:23: load of helpers.star: it defines no helpr (did you mean helper?)",
			"suite-twice.star:2:6: suite: called twice",
			`suite-type.star:1:6: suite: for parameter "cluster": got string, want int`,
			"no-test.star: the script registers no test",
			"typo.star:2:26: no value has an attribute eventualy (did you mean eventually?)"}},
		{"no script", nil, 2, []string{"check: give the scripts to check"}},
		{"a missing script", []string{p("none.star")}, 2, []string{"none.star: no such file or directory"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, stdout, stderr := clstrHere(append([]string{"check"}, tc.args...)...)
			if status != tc.status {
				t.Fatalf("status %d; want %d\nstdout:\n%s\nstderr:\n%s", status, tc.status, stdout, stderr)
			}
			if stdout != "" {
				t.Errorf("check printed on stdout:\n%s", stdout)
			}
			if tc.status == 0 && stderr != "" {
				t.Errorf("a clean check printed:\n%s", stderr)
			}
			assertContains(t, "stderr", stderr, tc.want...)
		})
	}
}

const unformatted = `load("@stdlib//kv.star","kv_put")
suite(cluster=2)
def t():
  kv_put('a','1')
test("t",t)
`

const formatted = `load("@stdlib//kv.star", "kv_put")

suite(cluster = 2)

def t():
    kv_put("a", "1")

test("t", t)
`

func TestFmt(t *testing.T) {
	dir := t.TempDir()
	messy, tidy := filepath.Join(dir, "messy.star"), filepath.Join(dir, "tidy.star")
	writeFiles(t, dir, map[string]string{"messy.star": unformatted, "tidy.star": formatted})

	// Without flags: the formatted text, files untouched.
	status, stdout, stderr := clstrHere("fmt", messy)
	if status != 0 || stdout != formatted {
		t.Fatalf("fmt: status %d, output:\n%s\nstderr:\n%s\nwant:\n%s", status, stdout, stderr, formatted)
	}
	// The formatter prints; it never reorders loads or arguments.
	reorder := "load(\"b.star\", \"z\")\nload(\"a.star\", \"y\", \"x\")\n\nf(b = 1, a = 2)\n"
	writeFiles(t, dir, map[string]string{"order.star": reorder})
	if _, stdout, _ := clstrHere("fmt", filepath.Join(dir, "order.star")); stdout != reorder {
		t.Errorf("fmt reordered:\n%s\nwant:\n%s", stdout, reorder)
	}

	// -d: a diff, exit 1; nothing for a formatted file.
	status, stdout, _ = clstrHere("fmt", "-d", messy, tidy)
	if status != 1 {
		t.Errorf("fmt -d of an unformatted file: status %d; want 1", status)
	}
	assertContains(t, "fmt -d", stdout, "--- "+messy, "+++ "+messy+" (formatted)", "-suite(cluster=2)", "+suite(cluster = 2)")
	if strings.Contains(stdout, tidy) {
		t.Errorf("fmt -d mentions the formatted file:\n%s", stdout)
	}
	if status, stdout, _ := clstrHere("fmt", "-d", tidy); status != 0 || stdout != "" {
		t.Errorf("fmt -d of a formatted file: status %d, output %q; want 0 and nothing", status, stdout)
	}

	// -w: rewrites what changed only, keeping the mode.
	if err := os.Chmod(messy, 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(tidy, old, old); err != nil {
		t.Fatal(err)
	}
	if status, stdout, stderr := clstrHere("fmt", "-w", dir); status != 0 || stdout != "" {
		t.Fatalf("fmt -w: status %d\nstdout:\n%s\nstderr:\n%s", status, stdout, stderr)
	}
	if b, _ := os.ReadFile(messy); string(b) != formatted {
		t.Errorf("after fmt -w:\n%s\nwant:\n%s", b, formatted)
	}
	if st, err := os.Stat(messy); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("fmt -w changed the mode: %v, %v", st.Mode(), err)
	}
	if st, err := os.Stat(tidy); err != nil || !st.ModTime().Equal(old) {
		t.Errorf("fmt -w rewrote a formatted file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("fmt -w left files behind: %v", entries)
	}

	// A file that does not parse: its position, exit 2, left as it is.
	bad := filepath.Join(dir, "bad.star")
	writeFiles(t, dir, map[string]string{"bad.star": "def t(:\n    pass\n"})
	status, _, stderr = clstrHere("fmt", "-w", bad)
	if status != 2 {
		t.Errorf("fmt of a broken file: status %d; want 2", status)
	}
	assertContains(t, "stderr", stderr, "bad.star:1:8: syntax error")
	if b, _ := os.ReadFile(bad); string(b) != "def t(:\n    pass\n" {
		t.Errorf("fmt -w changed a file it could not parse")
	}
}

// TestFmtDialect formats what clstr's dialect allows beyond the
// formatter's own: while loops (nested, with comments, beside a name like
// the one they are disguised under), tabs in indentation (but not inside a
// string), non-ASCII names, a byte order mark.
func TestFmtDialect(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"while", "def f(n):\n  i=0\n  while i<n :  # count\n    i+=1\n    while not(i>2): i+=1\n  return i\n",
			"def f(n):\n    i = 0\n    while i < n:  # count\n        i += 1\n        while not (i > 2):\n            i += 1\n    return i\n"},
		{"while beside its disguise", "_while_ = 1\nwhile _while_:\n    _while_ = 0\n",
			"_while_ = 1\nwhile _while_:\n    _while_ = 0\n"},
		{"tabs", "def f():\n\tx = \"\"\"a\n\tb\"\"\"\n\tif x:\n\t\treturn x\n",
			"def f():\n    x = \"\"\"a\n\tb\"\"\"\n    if x:\n        return x\n"},
		{"names", "def f():\n    é=1\n    while é : é = 0\n",
			"def f():\n    é = 1\n    while é:\n        é = 0\n"},
		{"byte order mark", "\ufeffx=1\n", "\ufeffx = 1\n"},
	}
	for _, c := range cases {
		out, err := formatStar("t.star", []byte(c.src))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if string(out) != c.want {
			t.Errorf("%s: got\n%s\nwant\n%s", c.name, out, c.want)
		}
		if again, err := formatStar("t.star", out); err != nil || string(again) != string(out) {
			t.Errorf("%s: formatting twice changes it: %v\n%s", c.name, err, again)
		}
	}
}

func TestFmtStdin(t *testing.T) {
	clstr, _ := binaries(t)
	cmd := exec.Command(clstr, "fmt")
	cmd.Stdin = strings.NewReader(unformatted)
	out, err := cmd.Output()
	if err != nil || string(out) != formatted {
		t.Errorf("clstr fmt < file: %v\n%s\nwant:\n%s", err, out, formatted)
	}
}

// TestBuiltinScriptsFormatted keeps the challenges and the standard
// library in the layout clstr fmt gives.
func TestBuiltinScriptsFormatted(t *testing.T) {
	files, err := starFiles([]string{"../../challenges", "../../stdlib", "../../examples"})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d .star files: %v", len(files), files)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := formatStar(f, src)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if !bytes.Equal(src, out) {
			t.Errorf("%s is not formatted: run clstr fmt -w on it\n%s", f, unifiedDiff(f, src, out))
		}
	}
}

func TestCompletion(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"completion", "bash"}, []string{"complete -o filenames", "--generate-bash-completion", "_clstr"}},
		{[]string{"completion", "zsh"}, []string{"#compdef clstr", "compdef _clstr clstr"}},
		{[]string{"completion", "fish"}, []string{"complete -c clstr", "--generate-bash-completion"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			status, stdout, stderr := clstrHere(tc.args...)
			if status != 0 {
				t.Fatalf("status %d\nstderr:\n%s", status, stderr)
			}
			assertContains(t, "output", stdout, tc.want...)
		})
	}
	if status, _, stderr := clstrHere("completion", "tcsh"); status != 2 || !strings.Contains(stderr, "choose bash, zsh or fish") {
		t.Errorf("completion tcsh: status %d, stderr %q; want 2 and the shells there are", status, stderr)
	}
}

// TestCompletionWords asks clstr what may stand where a word is typed, as
// the shells' scripts do, in a challenge directory with logs of a run:
// commands, flags, challenges, languages, stages, nodes; and never runs
// a command, even one that would wait ("logs -f").
func TestCompletionWords(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		progressFile:                        "challenge: kv-store\nstage: http-api\n",
		filepath.Join(logDir, "n1.log"):     "",
		filepath.Join(logDir, "n10.log"):    "",
		filepath.Join(logDir, "n2.log"):     "",
		filepath.Join(logDir, "events.log"): "",
	})
	app := newApp(io.Discard, io.Discard)
	for _, tc := range []struct {
		typed   string
		current string
		want    string
	}{
		{"", "", "run clean doctor list init test next status logs check fmt completion version help"},
		{"", "co", "completion"},
		{"init", "", challengeKeys()},
		{"init --language", "", "go rust python java node"},
		{"init --language", "r", "rust"},
		{"init kv-store --language=go", "--l", "--language"},
		{"test", "", "http-api persistence crash-recovery leader-election log-replication log-compaction membership-changes joint-consensus"},
		{"test http-api", "", ""},
		{"logs", "", "n1 n2 n10"},
		{"logs n2 -f", "", "n1 n10"},
		{"logs -f", "--", "--follow --html --help"},
		{"logs -f --", "--", ""},
		{"fmt", "-", "-w -d --help"},
		{"run --binary", "", ""},
		{"completion", "", "bash zsh fish"},
		{"help", "l", "list logs"},
		{"nosuch", "", ""},
	} {
		typed := strings.Fields(tc.typed)
		got := strings.Join(complete(app, dir, typed, tc.current), " ")
		if got != tc.want {
			t.Errorf("clstr %s %q<TAB>: %q; want %q", tc.typed, tc.current, got, tc.want)
		}
	}
}

func challengeKeys() string {
	var keys []string
	for _, c := range registry.Default.Challenges() {
		keys = append(keys, c.Key)
	}
	return strings.Join(keys, " ")
}

// TestCompletionScripts runs the bash script as bash does on <TAB>, with
// the binary, where a word being typed is "--" after a flag that makes
// the command wait: it answers at once.
func TestCompletionScripts(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash on this machine to run the completion script in")
	}
	clstr, _ := binaries(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "clstr.bash")
	if err := os.WriteFile(script, []byte(bashCompletion), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ line, want string }{
		{"clstr logs -f --", "--follow --html --help"},
		{"clstr ini", "init"},
		{"clstr init kv-store --language p", "python"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, "bash", "-c", `source "$1"; read -ra COMP_WORDS <<<"$2"; [[ "$2" == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMP_WORDS[0]="$3"; _clstr; echo "${COMPREPLY[*]}"`, "bash", script, tc.line, clstr)
		cmd.Dir = dir
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Errorf("%q<TAB>: %v (%s)", tc.line, err, out)
			continue
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("%q<TAB>: %q; want %q", tc.line, got, tc.want)
		}
	}
}
