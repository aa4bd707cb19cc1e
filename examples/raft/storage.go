package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"os"
	"path/filepath"
)

// storage keeps a node's persistent Raft state in DATA_DIR:
//
//	raft-state.json     {"term": …, "voted_for": …}, replaced atomically
//	raft-snapshot.json  the latest snapshot: the state machine as of an
//	                    index, and that entry's term; replaced atomically
//	raft-log            the log after the snapshot: one record per entry,
//	                    appended and fsynced; rewritten after a snapshot
//
// A log record is a uint32 little-endian payload length, a uint32 CRC-32C
// of the payload and the payload, the entry as JSON. A crash can leave a
// torn record at the end; loading drops it, which is safe because an entry
// counts (for the leader's commit or a follower's answer) only once it is
// fsynced.
type storage struct {
	dir     string
	log     *os.File
	first   int64   // the index of the file's first entry (of the next one appended, if empty)
	offsets []int64 // offsets[i] is where the record of entry first+i starts
	size    int64   // the log file's length
}

const (
	stateName    = "raft-state.json"
	snapshotName = "raft-snapshot.json"
	logName      = "raft-log"
)

// snapshot is the state machine as of entry Index, whose term is Term:
// every entry up to Index is applied in it and can leave the log.
type snapshot struct {
	Index int64             `json:"last-included-index"`
	Term  int64             `json:"last-included-term"`
	KV    map[string]string `json:"data"`
	// The configuration as of Index.
	Members []string `json:"members,omitempty"`
	Old     []string `json:"old,omitempty"`
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// persistentState is what a node must remember about elections.
type persistentState struct {
	Term     int64  `json:"term"`
	VotedFor string `json:"voted_for"`
}

// openStorage loads the state, snapshot and log in dir, creating them if
// needed. The entries it returns follow the snapshot: a crash between
// saving a snapshot and rewriting the log leaves entries it covers in
// the file, which are dropped here.
func openStorage(dir string) (*storage, persistentState, snapshot, []Entry, error) {
	var st persistentState
	snap := snapshot{KV: map[string]string{}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, st, snap, nil, fmt.Errorf("data dir: %w", err)
	}
	if err := readJSON(filepath.Join(dir, stateName), &st); err != nil {
		return nil, st, snap, nil, err
	}
	if err := readJSON(filepath.Join(dir, snapshotName), &snap); err != nil {
		return nil, st, snap, nil, err
	}
	if snap.KV == nil {
		snap.KV = map[string]string{}
	}

	f, err := os.OpenFile(filepath.Join(dir, logName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, st, snap, nil, fmt.Errorf("open log: %w", err)
	}
	s := &storage{dir: dir, log: f, first: snap.Index + 1}
	entries, err := s.load()
	if err != nil {
		f.Close()
		return nil, st, snap, nil, err
	}
	if len(entries) > 0 && entries[0].Index > snap.Index+1 {
		f.Close()
		return nil, st, snap, nil, fmt.Errorf("the log in %s starts at entry %d, but the snapshot covers only up to %d", dir, entries[0].Index, snap.Index)
	}
	if len(entries) > 0 && entries[0].Index <= snap.Index {
		covered := min(int64(len(entries)), snap.Index-entries[0].Index+1)
		entries = entries[covered:]
		if err := s.rewrite(snap.Index+1, entries); err != nil {
			f.Close()
			return nil, st, snap, nil, err
		}
	}
	if err := syncDir(dir); err != nil {
		s.log.Close()
		return nil, st, snap, nil, err
	}
	return s, st, snap, entries, nil
}

// readJSON decodes the JSON file at path into v; a missing file leaves v
// as it is.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s is corrupt: %w", path, err)
	}
	return nil
}

// load reads every intact record, cuts off a torn tail and leaves the file
// positioned for appending.
func (s *storage) load() ([]Entry, error) {
	r := bufio.NewReaderSize(s.log, 1<<20)
	var entries []Entry
	var off int64
	var header [8]byte
	for {
		if _, err := io.ReadFull(r, header[:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			return nil, fmt.Errorf("read log: %w", err)
		}
		size := binary.LittleEndian.Uint32(header[:4])
		if size > 1<<30 {
			break
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(r, payload); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			return nil, fmt.Errorf("read log: %w", err)
		}
		if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(header[4:]) {
			break
		}
		var e Entry
		if err := json.Unmarshal(payload, &e); err != nil {
			break
		}
		if len(entries) == 0 {
			s.first = e.Index
		} else if e.Index != entries[len(entries)-1].Index+1 {
			break
		}
		entries = append(entries, e)
		s.offsets = append(s.offsets, off)
		off += int64(len(header)) + int64(size)
	}
	end, err := s.log.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	if end != off {
		log.Printf("log ends in %d bytes of a torn record (a crash mid-write); dropping them", end-off)
		if err := s.log.Truncate(off); err != nil {
			return nil, fmt.Errorf("truncate torn log tail: %w", err)
		}
		if err := s.log.Sync(); err != nil {
			return nil, fmt.Errorf("sync log: %w", err)
		}
	}
	if _, err := s.log.Seek(off, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seek log: %w", err)
	}
	s.size = off
	return entries, nil
}

// saveState replaces the state file atomically and durably.
func (s *storage) saveState(st persistentState) error {
	if err := s.replace(stateName, st); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// saveSnapshot replaces the snapshot file atomically and durably.
func (s *storage) saveSnapshot(snap snapshot) error {
	if err := s.replace(snapshotName, snap); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	return nil
}

// replace writes v as JSON to a new file and renames it over name.
func (s *storage) replace(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	path := filepath.Join(s.dir, name)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// rewrite replaces the log file by one that holds entries, the first of
// which has index first (the next appended entry, if there are none): a
// new file is written, fsynced and renamed over the old one.
func (s *storage) rewrite(first int64, entries []Entry) error {
	path := filepath.Join(s.dir, logName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("rewrite log: %w", err)
	}
	ns := &storage{dir: s.dir, log: f, first: first}
	if err := ns.append(entries); err != nil {
		f.Close()
		return fmt.Errorf("rewrite log: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		return fmt.Errorf("rewrite log: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.log.Close()
	*s = *ns
	return nil
}

// truncate drops entries from index on, without syncing; the append that
// follows syncs both.
func (s *storage) truncate(index int64) error {
	if index >= s.first+int64(len(s.offsets)) {
		return nil
	}
	if index < s.first {
		index = s.first
	}
	off := s.offsets[index-s.first]
	if err := s.log.Truncate(off); err != nil {
		return fmt.Errorf("truncate log: %w", err)
	}
	if _, err := s.log.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("seek log: %w", err)
	}
	s.offsets = s.offsets[:index-s.first]
	s.size = off
	return nil
}

// append writes entries after the last one and fsyncs the log.
func (s *storage) append(entries []Entry) error {
	if len(s.offsets) == 0 && len(entries) > 0 {
		s.first = entries[0].Index
	}
	var buf []byte
	offsets := s.offsets
	off := s.size
	for _, e := range entries {
		payload, err := json.Marshal(e)
		if err != nil {
			return err
		}
		offsets = append(offsets, off)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(payload)))
		buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(payload, crcTable))
		buf = append(buf, payload...)
		off += 8 + int64(len(payload))
	}
	if _, err := s.log.Write(buf); err != nil {
		return fmt.Errorf("append to log: %w", err)
	}
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	s.offsets, s.size = offsets, off
	return nil
}

// sync fsyncs the log, for a truncation with nothing appended after it.
func (s *storage) sync() error {
	if err := s.log.Sync(); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	return nil
}

func (s *storage) close() error { return s.log.Close() }

// syncDir fsyncs a directory, making a rename or a new file in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
