package main

import (
	"os"
	"path/filepath"
	"reflect"
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
		s, st, _, entries, err := openStorage(dir)
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
	if !equalEntries(entries, []Entry{e1, e2, e3}) {
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
	if !equalEntries(entries, []Entry{e1, e2, e3b}) {
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
	if !equalEntries(entries, []Entry{e1, e2, e3b}) {
		t.Fatalf("entries after a torn tail: %+v", entries)
	}
	e4 := Entry{Index: 4, Term: 2, Op: opPut, Key: "after", Value: "torn"}
	if err := s.append([]Entry{e4}); err != nil {
		t.Fatal(err)
	}
	_, _, entries = reopen(s)
	if !equalEntries(entries, []Entry{e1, e2, e3b, e4}) {
		t.Fatalf("an append after a torn tail was lost: %+v", entries)
	}

	// A snapshot up to entry 3 and the log rewritten after it.
	snap := snapshot{Index: 3, Term: 2, KV: map[string]string{"k": "v"}}
	if err := s.saveSnapshot(snap); err != nil {
		t.Fatal(err)
	}
	if err := s.rewrite(4, []Entry{e4}); err != nil {
		t.Fatal(err)
	}
	e5 := Entry{Index: 5, Term: 3, Op: opNoop}
	if err := s.append([]Entry{e5}); err != nil {
		t.Fatal(err)
	}
	s, _, entries = reopen(s)
	if !equalEntries(entries, []Entry{e4, e5}) {
		t.Fatalf("entries after a snapshot: %+v", entries)
	}
	if err := s.truncate(5); err != nil {
		t.Fatal(err)
	}
	if err := s.sync(); err != nil {
		t.Fatal(err)
	}
	s, _, entries = reopen(s)
	if !equalEntries(entries, []Entry{e4}) {
		t.Fatalf("entries after truncating past a snapshot: %+v", entries)
	}
}

// A crash after a snapshot is saved but before the log is rewritten leaves
// entries it covers in the log: loading drops them, and the snapshot's
// state machine is what the node starts from.
func TestStorageSnapshotBeforeRewrite(t *testing.T) {
	dir := t.TempDir()
	s, _, _, _, err := openStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all []Entry
	for i := int64(1); i <= 5; i++ {
		all = append(all, Entry{Index: i, Term: 1, Op: opPut, Key: "k", Value: "v"})
	}
	if err := s.append(all); err != nil {
		t.Fatal(err)
	}
	if err := s.saveSnapshot(snapshot{Index: 3, Term: 1, KV: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	s.close()
	s, _, snap, entries, err := openStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if snap.Index != 3 || snap.KV["k"] != "v" {
		t.Errorf("snapshot after reopen: %+v", snap)
	}
	if !equalEntries(entries, all[3:]) {
		t.Fatalf("entries after reopen: %+v, want entries 4 and 5", entries)
	}
	fi, err := os.Stat(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() >= s.size+1 || len(s.offsets) != 2 || s.first != 4 {
		t.Errorf("the log file was not rewritten: %d bytes, first %d, %d records", fi.Size(), s.first, len(s.offsets))
	}
}

func equalEntries(a, b []Entry) bool { return reflect.DeepEqual(a, b) || len(a)+len(b) == 0 }
