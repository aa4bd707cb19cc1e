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
//	raft-state.json  {"term": …, "voted_for": …}, replaced atomically
//	raft-log         the log: one record per entry, appended and fsynced
//
// A log record is a uint32 little-endian payload length, a uint32 CRC-32C
// of the payload and the payload, the entry as JSON. A crash can leave a
// torn record at the end; loading drops it, which is safe because an entry
// counts (for the leader's commit or a follower's answer) only once it is
// fsynced.
type storage struct {
	dir     string
	log     *os.File
	offsets []int64 // offsets[i] is where the record of entry i+1 starts
	size    int64   // the log file's length
}

const (
	stateName = "raft-state.json"
	logName   = "raft-log"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// persistentState is what a node must remember about elections.
type persistentState struct {
	Term     int64  `json:"term"`
	VotedFor string `json:"voted_for"`
}

// openStorage loads the state and log in dir, creating them if needed.
func openStorage(dir string) (*storage, persistentState, []Entry, error) {
	var st persistentState
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, st, nil, fmt.Errorf("data dir: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateName))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, st, nil, fmt.Errorf("read state: %w", err)
	default:
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, st, nil, fmt.Errorf("state file %s is corrupt: %w", filepath.Join(dir, stateName), err)
		}
	}

	f, err := os.OpenFile(filepath.Join(dir, logName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, st, nil, fmt.Errorf("open log: %w", err)
	}
	s := &storage{dir: dir, log: f}
	entries, err := s.load()
	if err != nil {
		f.Close()
		return nil, st, nil, err
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, st, nil, err
	}
	return s, st, entries, nil
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
		if err := json.Unmarshal(payload, &e); err != nil || e.Index != int64(len(entries))+1 {
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
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	path := filepath.Join(s.dir, stateName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return syncDir(s.dir)
}

// truncate drops entries from index on (index is 1-based), without
// syncing; the append that follows syncs both.
func (s *storage) truncate(index int64) error {
	if index > int64(len(s.offsets)) {
		return nil
	}
	off := s.offsets[index-1]
	if err := s.log.Truncate(off); err != nil {
		return fmt.Errorf("truncate log: %w", err)
	}
	if _, err := s.log.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("seek log: %w", err)
	}
	s.offsets = s.offsets[:index-1]
	s.size = off
	return nil
}

// append writes entries after the last one and fsyncs the log.
func (s *storage) append(entries []Entry) error {
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
