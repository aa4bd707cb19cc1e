package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGitHubAction runs the steps of the repository's action.yml as a
// runner would: install.sh builds clstr and puts it on the path, test.sh
// runs a challenge directory's stage and says where its JUnit file and
// report are.
func TestGitHubAction(t *testing.T) {
	dockerOrSkip(t)
	alongside(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	action, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// Every script a step runs is there.
	scripts := regexp.MustCompile(`\$GITHUB_ACTION_PATH/([\w./-]+)`).FindAllStringSubmatch(string(action), -1)
	if len(scripts) != 2 {
		t.Fatalf("action.yml runs %d scripts; want install.sh and test.sh", len(scripts))
	}
	for _, m := range scripts {
		if _, err := os.Stat(filepath.Join(root, m[1])); err != nil {
			t.Errorf("action.yml runs %s: %v", m[1], err)
		}
	}

	runner := t.TempDir()
	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{progressFile: "challenge: kv-store\nstage: http-api\n"})
	copyFile(t, kvBinary(t), filepath.Join(ws, "server"))
	env := append(os.Environ(),
		"GITHUB_ACTION_PATH="+root,
		"RUNNER_TEMP="+runner,
		"GITHUB_PATH="+filepath.Join(runner, "path"),
		"GITHUB_OUTPUT="+filepath.Join(runner, "output"),
	)
	step := func(script string, extra ...string) (string, int) {
		cmd := exec.Command("bash", filepath.Join(root, "action", script))
		cmd.Dir = ws
		path, _ := os.ReadFile(filepath.Join(runner, "path"))
		cmd.Env = append(append(env, extra...), "PATH="+strings.TrimSpace(string(path))+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, code := step("install.sh"); code != 0 {
		t.Fatalf("install.sh: exit %d\n%s", code, out)
	}
	out, code := step("test.sh", "CLSTR_BINARY=./server", "CLSTR_SO_FAR=false", "CLSTR_RESULTS=results", "CLSTR_ARGS=--run PUT --seed 7")
	if code != 0 {
		t.Fatalf("test.sh: exit %d; want 0\n%s", code, out)
	}
	assertContains(t, "test.sh", out, "seed 7", "PASSED")
	for _, f := range []string{"results/clstr.xml", "results/report/index.html"} {
		if _, err := os.Stat(filepath.Join(ws, f)); err != nil {
			t.Errorf("the action left no %s: %v", f, err)
		}
	}
	outputs, _ := os.ReadFile(filepath.Join(runner, "output"))
	assertContains(t, "the step's outputs", string(outputs), "junit=results/clstr.xml\n", "report=results/report\n")

	// A failing stage fails the step, with clstr's exit status.
	writeFiles(t, ws, map[string]string{progressFile: "challenge: kv-store\nstage: http-api\n"})
	if out, code := step("test.sh", "CLSTR_BINARY=./server", "CLSTR_SO_FAR=false", "CLSTR_RESULTS=results", "CLSTR_ARGS=--env KV_BUG=no-405 --run Unsupported"); code == 0 {
		t.Errorf("test.sh passed a failing stage:\n%s", out)
	}
}
