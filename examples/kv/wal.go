package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The log is a sequence of records, each
//
//	uint32 little-endian  length of the payload
//	uint32 little-endian  CRC-32C of the payload
//	payload               kind byte, uvarint key length, key, value
//
// A crash can leave a torn record at the end; replay stops at the first
// record that is short or fails its checksum and drops it and anything
// after it. Nothing after it was ever acknowledged, because a write is
// acknowledged only once its record and all before it are fsynced.

const (
	opPut   byte = 'P'
	opDel   byte = 'D'
	opClear byte = 'C'

	logName     = "kv.log"
	headerSize  = 8
	maxRecordSz = 1 << 30
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// op is one change to the store.
type op struct {
	kind  byte
	key   string
	value string
}

// appendRecord encodes o as a log record at the end of buf.
func appendRecord(buf []byte, o op) []byte {
	payload := make([]byte, 0, 1+binary.MaxVarintLen64+len(o.key)+len(o.value))
	payload = append(payload, o.kind)
	payload = binary.AppendUvarint(payload, uint64(len(o.key)))
	payload = append(payload, o.key...)
	payload = append(payload, o.value...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(payload)))
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(payload, crcTable))
	return append(buf, payload...)
}

var errTorn = errors.New("torn or corrupt record")

// decodePayload parses a record's payload.
func decodePayload(p []byte) (op, error) {
	if len(p) == 0 {
		return op{}, errTorn
	}
	o := op{kind: p[0]}
	n, w := binary.Uvarint(p[1:])
	if w <= 0 || uint64(len(p)-1-w) < n {
		return op{}, errTorn
	}
	rest := p[1+w:]
	o.key, o.value = string(rest[:n]), string(rest[n:])
	switch o.kind {
	case opPut, opDel, opClear:
		return o, nil
	}
	return op{}, errTorn
}

// replay applies every intact record of the log at path to data and
// reports how many records it read and whether it stopped at a torn one.
// A missing log is an empty one.
func replay(path string, data map[string]string) (records int, torn bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var header [headerSize]byte
	for {
		if _, err := io.ReadFull(r, header[:]); err != nil {
			if err == io.EOF {
				return records, false, nil
			}
			if err == io.ErrUnexpectedEOF {
				return records, true, nil
			}
			return records, false, fmt.Errorf("read log: %w", err)
		}
		size := binary.LittleEndian.Uint32(header[:4])
		sum := binary.LittleEndian.Uint32(header[4:])
		if size > maxRecordSz {
			return records, true, nil
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(r, payload); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return records, true, nil
			}
			return records, false, fmt.Errorf("read log: %w", err)
		}
		if crc32.Checksum(payload, crcTable) != sum {
			return records, true, nil
		}
		o, err := decodePayload(payload)
		if err != nil {
			return records, true, nil
		}
		applyOp(data, o)
		records++
	}
}

// applyOp performs o on data.
func applyOp(data map[string]string, o op) {
	switch o.kind {
	case opPut:
		data[o.key] = o.value
	case opDel:
		delete(data, o.key)
	case opClear:
		clear(data)
	}
}

// writeSnapshot replaces the log at path with one PUT record per key of
// data, atomically: it writes a temporary file, fsyncs it, renames it over
// the log and fsyncs the directory, so a crash leaves either the old log or
// the new one. A planted bug may skip the file's fsync (no-fsync) or the
// directory's (no-dir-fsync).
func writeSnapshot(path string, data map[string]string, bug string) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var buf []byte
	for k, v := range data {
		buf = appendRecord(buf[:0], op{kind: opPut, key: k, value: v})
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("snapshot: %w", err)
	}
	if bug != bugNoFsync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if bug == bugNoFsync || bug == bugNoDirFsync {
		// Without it the rename, and the log's very name, are lost
		// with the power.
		return nil
	}
	return syncDir(filepath.Dir(path))
}

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
