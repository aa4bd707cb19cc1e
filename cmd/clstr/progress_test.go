package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clstr-dev/clstr/attest"
	"github.com/clstr-dev/clstr/registry"
)

func TestParseProgress(t *testing.T) {
	tests := []struct {
		name string
		data string
		want progress
		err  string // part of the error; "" for none
	}{
		{name: "clstr.io's file", data: "challenge: kv-store\nstage: crash-recovery\n",
			want: progress{"kv-store", "crash-recovery"}},
		{name: "comments, blank lines, document start, CRLF", data: "---\r\n# my progress\r\n\r\nchallenge: kv-store  # the challenge\r\nstage: http-api\r\n",
			want: progress{"kv-store", "http-api"}},
		{name: "quoted values", data: "challenge: \"kv-store\"\nstage: 'persistence'\n",
			want: progress{"kv-store", "persistence"}},
		{name: "other keys are allowed", data: "challenge: kv-store\nlanguage: go\nstage: http-api",
			want: progress{"kv-store", "http-api"}},
		{name: "a byte order mark", data: "\ufeffchallenge: kv-store\nstage: http-api\n",
			want: progress{"kv-store", "http-api"}},
		{name: "no stage", data: "challenge: kv-store\n", err: "names no stage"},
		{name: "empty", data: "", err: "names no challenge"},
		{name: "not key: value", data: "challenge kv-store\nstage: http-api\n", err: `clstr.yaml:1: "challenge kv-store" is not "key: value"`},
		{name: "indented", data: "challenge: kv-store\n  stage: http-api\n", err: "clstr.yaml:2: \"stage: http-api\": write one \"key: value\" per line"},
		{name: "twice", data: "challenge: a\nstage: b\nstage: c\n", err: `clstr.yaml:3: "stage" is set twice`},
		{name: "unclosed quote", data: "challenge: \"kv-store\nstage: b\n", err: "is not closed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProgress([]byte(tc.data))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v; want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v; want %+v", got, tc.want)
			}
		})
	}
}

func TestUnknownProgressKeys(t *testing.T) {
	got := unknownProgressKeys([]byte("\ufeffchallenge: kv-store\nstage: http-api\nreprot: out\nlanguage: go\nreport: r\n"))
	want := []string{
		`clstr.yaml:3: clstr reads no key "reprot" (did you mean report?); its keys are challenge, stage, report, done, source`,
		`clstr.yaml:4: clstr reads no key "language"; its keys are challenge, stage, report, done, source`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := string(withStage([]byte("\ufeffstage: a\nchallenge: c\n"), "b")); got != "\ufeffstage: b\nchallenge: c\n" {
		t.Errorf("withStage dropped the byte order mark: %q", got)
	}
}

// TestWorkspaceFromASubdirectory runs a learner's commands in a directory
// below the challenge's: they find its clstr.yaml, as git finds .git.
func TestWorkspaceFromASubdirectory(t *testing.T) {
	clstr, _ := binaries(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		progressFile:       "challenge: kv-store\nstage: persistence\nreprot: out\n",
		"src/deep/main.go": "package main\n",
	})
	cmd := exec.Command(clstr, "status")
	cmd.Dir = filepath.Join(dir, "src", "deep")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("clstr status in a subdirectory: %v\n%s", err, stderr.String())
	}
	assertContains(t, "stdout", stdout.String(), "→ 2. persistence")
	assertContains(t, "stderr", stderr.String(), `clstr reads no key "reprot" (did you mean report?)`)
}

func TestProgressRoundTrip(t *testing.T) {
	p := progress{"kv-store", "http-api"}
	if got := string(p.encode()); got != "challenge: kv-store\nstage: http-api\n" {
		t.Errorf("encode: %q", got)
	}
	back, err := parseProgress(p.encode())
	if err != nil || back != p {
		t.Errorf("parse(encode(p)) = %+v, %v; want %+v", back, err, p)
	}
}

func TestWithStage(t *testing.T) {
	tests := []struct {
		name, data, stage, want string
	}{
		{"plain", "challenge: kv-store\nstage: http-api\n", "persistence", "challenge: kv-store\nstage: persistence\n"},
		{"keeps comments and other keys", "# mine\nchallenge: kv-store\nstage: http-api # now\nlanguage: go\n", "persistence",
			"# mine\nchallenge: kv-store\nstage: persistence\nlanguage: go\n"},
		{"adds a missing stage", "challenge: kv-store", "http-api", "challenge: kv-store\nstage: http-api\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(withStage([]byte(tc.data), tc.stage)); got != tc.want {
				t.Errorf("got %q; want %q", got, tc.want)
			}
		})
	}
}

// testRegistry holds a challenge registered from Go, as a Go package
// would register one.
func testRegistry() *registry.Registry {
	c := &registry.Challenge{Name: "Echo", Summary: "Answer, then answer again."}
	suite := func() *attest.Suite { return attest.New(attest.WithCluster(1)) }
	c.AddStage("health", "Answer Health Checks", suite)
	c.AddStage("echo", "Echo Requests", suite)
	c.AddStage("again", "Echo Again", suite)
	r := &registry.Registry{}
	r.Register("echo", c)
	return r
}

func TestOpenWorkspace(t *testing.T) {
	reg := testRegistry()
	tests := []struct {
		name  string
		data  string // "" for no file
		index int
		err   string
	}{
		{name: "no file", err: "no clstr.yaml here"},
		{name: "first stage", data: "challenge: echo\nstage: health\n", index: 0},
		{name: "last stage", data: "challenge: echo\nstage: again\n", index: 2},
		{name: "unknown challenge", data: "challenge: nope\nstage: health\n", err: `knows no challenge "nope"`},
		{name: "unknown stage", data: "challenge: echo\nstage: nope\n", err: `"nope" is not a stage of echo; its stages are health, echo, again`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.data != "" {
				if err := os.WriteFile(filepath.Join(dir, progressFile), []byte(tc.data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			w, err := openWorkspace(dir, reg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v; want one containing %q", err, tc.err)
				}
				if tc.data == "" && !errors.Is(err, errNoProgress) {
					t.Errorf("a missing file is %v, not errNoProgress", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.index != tc.index {
				t.Errorf("index %d; want %d", w.index, tc.index)
			}
		})
	}
}

func TestAdvance(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, progressFile)
	if err := os.WriteFile(path, []byte("# keep me\nchallenge: echo\nstage: health\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := openWorkspace(dir, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.advance("echo"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != "# keep me\nchallenge: echo\nstage: echo\n" {
		t.Errorf("clstr.yaml after advance: %q", data)
	}
	if w.index != 1 || w.progress.Stage != "echo" {
		t.Errorf("workspace after advance: index %d, stage %q", w.index, w.progress.Stage)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(m) > 0 {
		t.Errorf("advance left %v behind", m)
	}
}
