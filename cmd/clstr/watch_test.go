package main

import (
	"path/filepath"
	"testing"

	"github.com/clstr-dev/clstr/attest/docker"
)

func TestTargetChanged(t *testing.T) {
	dir := t.TempDir()
	p := func(rel string) string { return filepath.Join(dir, rel) }
	tests := []struct {
		name    string
		opts    docker.Options
		changed []string
		want    bool
	}{
		{"the script inside the target", docker.Options{Dir: dir}, []string{p("stage.star")}, false},
		{"a module inside the target", docker.Options{Dir: dir}, []string{p("lib/common.star")}, false},
		{"a new .star file beside the script", docker.Options{Dir: dir}, []string{p("other.star")}, false},
		{"a source", docker.Options{Dir: dir}, []string{p("stage.star"), p("main.go")}, true},
		{"the Dockerfile", docker.Options{Dir: dir}, []string{p("Dockerfile")}, true},
		{"the binary", docker.Options{Binary: p("bin/node")}, []string{p("bin/node")}, true},
		{"the script beside the binary", docker.Options{Binary: p("node")}, []string{p("stage.star")}, false},
		{"an image target", docker.Options{Image: "node:dev"}, []string{p("stage.star")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &watchSession{opts: tc.opts, script: p("stage.star"), files: []string{p("stage.star"), p("lib/common.star")}}
			if got := s.targetChanged(tc.changed); got != tc.want {
				t.Errorf("targetChanged(%q) = %v; want %v", tc.changed, got, tc.want)
			}
		})
	}
}

func TestDescribeChanges(t *testing.T) {
	wd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	s := &watchSession{}
	tests := []struct {
		changed []string
		want    string
	}{
		{[]string{filepath.Join(wd, "stage.star")}, "stage.star"},
		{[]string{"/elsewhere/node"}, "/elsewhere/node"},
		{[]string{filepath.Join(wd, "a"), filepath.Join(wd, "b"), filepath.Join(wd, "c"), filepath.Join(wd, "d"), filepath.Join(wd, "e")}, "a, b, c and 2 more"},
	}
	for _, tc := range tests {
		if got := s.describe(tc.changed); got != tc.want {
			t.Errorf("describe(%q) = %q; want %q", tc.changed, got, tc.want)
		}
	}
}
