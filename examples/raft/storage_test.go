package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestStorage(t *testing.T) {
	dir := t.TempDir()
	reopen := func(s *storage) (*storage, persistentState, []Entry) {
		t.Helper()
		if s != nil {
			if err := s.close(); err != nil {
				t.Fatal(err)
			}
		}
		s, st, entries, err := openStorage(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.close() })
		return s, st, entries
	}

	s, st, entries := reopen(nil)
	if st != (persistentState{}) || len(entries) != 0 {
		t.Fatalf("fresh storage: state %+v, %d entries", st, len(entries))
	}
	e1 := Entry{Index: 1, Term: 1, Op: opNoop}
	e2 := Entry{Index: 2, Term: 1, Op: opPut, Key: "k", Value: "a value\twith tabs 😊"}
	e3 := Entry{Index: 3, Term: 1, Op: opDelete, Key: "k"}
	if err := s.append([]Entry{e1, e2, e3}); err != nil {
		t.Fatal(err)
	}
	if err := s.saveState(persistentState{Term: 2, VotedFor: "10.0.42.102:8080"}); err != nil {
		t.Fatal(err)
	}

	s, st, entries = reopen(s)
	if st != (persistentState{Term: 2, VotedFor: "10.0.42.102:8080"}) {
		t.Errorf("state after reopen: %+v", st)
	}
	if !slices.Equal(entries, []Entry{e1, e2, e3}) {
		t.Fatalf("entries after reopen: %+v", entries)
	}

	// A new leader overwrites entry 3.
	e3b := Entry{Index: 3, Term: 2, Op: opClear}
	if err := s.truncate(3); err != nil {
		t.Fatal(err)
	}
	if err := s.append([]Entry{e3b}); err != nil {
		t.Fatal(err)
	}
	s, _, entries = reopen(s)
	if !slices.Equal(entries, []Entry{e1, e2, e3b}) {
		t.Fatalf("entries after truncate and append: %+v", entries)
	}

	// A crash in the middle of an append leaves a torn record.
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, logName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{40, 0, 0, 0, 1, 2, 3, 4, '{', '"'})
	f.Close()
	s, _, entries = reopen(nil)
	if !slices.Equal(entries, []Entry{e1, e2, e3b}) {
		t.Fatalf("entries after a torn tail: %+v", entries)
	}
	e4 := Entry{Index: 4, Term: 2, Op: opPut, Key: "after", Value: "torn"}
	if err := s.append([]Entry{e4}); err != nil {
		t.Fatal(err)
	}
	_, _, entries = reopen(s)
	if !slices.Equal(entries, []Entry{e1, e2, e3b, e4}) {
		t.Fatalf("an append after a torn tail was lost: %+v", entries)
	}
}
