//go:build linux

package durafs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
)

// blockSize is the unit in which old file contents are saved.
const blockSize = 4096

// An undo log (data/<ino> in the journal) starts with a header: the
// file's durable size and the number of records that follow, each a block
// number and the block's durable bytes in a slot of fixed size. A durable
// file's log says so with cleanSize, or is missing. The log is only ever
// overwritten in place, never truncated, so that keeping it costs the
// backing file system no metadata change per fsync; a record is counted
// in the header only once it is written whole.
const (
	headerSize = 16
	slotSize   = 8 + blockSize
	cleanSize  = ^uint64(0)
)

// fileUndo is what it takes to bring one file back to its durable content.
type fileUndo struct {
	size  int64          // size as of the last fsync
	saved map[int64]bool // blocks whose durable bytes are in log
	n     int64          // records in log
	log   *os.File

	// clean means the file is durable as it is; the log stays open to
	// spare reopening it after the next fsync.
	clean bool
}

// maxClean bounds the clean undo logs kept open.
const maxClean = 256

func (fu *fileUndo) writeHeader(size uint64) error {
	var hdr [headerSize]byte
	binary.LittleEndian.PutUint64(hdr[:], size)
	binary.LittleEndian.PutUint64(hdr[8:], uint64(fu.n))
	_, err := fu.log.WriteAt(hdr[:], 0)
	return err
}

// loadUndo reads an undo log; it returns nil for a durable file, whose
// log it removes.
func loadUndo(p string) (*fileUndo, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	if len(b) < headerSize || binary.LittleEndian.Uint64(b) == cleanSize {
		return nil, os.Remove(p)
	}
	fu := &fileUndo{size: int64(binary.LittleEndian.Uint64(b)), saved: map[int64]bool{}}
	count := int64(binary.LittleEndian.Uint64(b[8:]))
	for ; fu.n < count; fu.n++ {
		at := headerSize + fu.n*slotSize
		if int64(len(b)) < at+8 {
			break
		}
		blk := int64(binary.LittleEndian.Uint64(b[at:]))
		if int64(len(b)) < at+8+int64(blockLen(fu.size, blk)) {
			break
		}
		fu.saved[blk] = true
	}
	if fu.log, err = os.OpenFile(p, os.O_RDWR, 0); err != nil {
		return nil, err
	}
	return fu, nil
}

// blockLen is how many durable bytes block blk holds in a file of size.
func blockLen(size, blk int64) int {
	return int(max(0, min(blockSize, size-blk*blockSize)))
}

// newUndo starts the undo log of a file whose durable size is size.
func (j *journal) newUndo(ino uint64, size int64) (*fileUndo, error) {
	fu := j.files[ino]
	if fu != nil && fu.clean {
		j.nclean--
	}
	if fu == nil {
		f, err := os.OpenFile(j.path(dataDir, ino), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		fu = &fileUndo{log: f}
		j.files[ino] = fu
	}
	fu.size, fu.n, fu.saved, fu.clean = size, 0, map[int64]bool{}, false
	if err := fu.writeHeader(uint64(size)); err != nil {
		fu.log.Close()
		delete(j.files, ino)
		return nil, fmt.Errorf("journal: %w", err)
	}
	return fu, nil
}

// created records a new file: nothing of it is durable.
func (j *journal) created(ino uint64) error {
	_, err := j.newUndo(ino, 0)
	return err
}

// saveRange saves the durable bytes of [off, end) of file ino before they
// change. fd is any open descriptor of the file.
func (j *journal) saveRange(ino uint64, fd int, off, end int64) error {
	fu := j.files[ino]
	if fu == nil || fu.clean {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return err
		}
		var err error
		if fu, err = j.newUndo(ino, st.Size); err != nil {
			return err
		}
	}
	end = min(end, fu.size)
	if off >= end {
		return nil
	}
	var src *os.File
	defer func() {
		if src != nil {
			src.Close()
		}
	}()
	rec := make([]byte, slotSize)
	for blk := off / blockSize; blk*blockSize < end; blk++ {
		if fu.saved[blk] {
			continue
		}
		n := blockLen(fu.size, blk)
		binary.LittleEndian.PutUint64(rec, uint64(blk))
		data := rec[8 : 8+n]
		clear(data)
		// Bytes past the current end were truncated away earlier and are
		// saved already; a short read leaves zeros, as a hole would.
		_, err := syscall.Pread(fd, data, blk*blockSize)
		if err == syscall.EBADF {
			// The descriptor is write-only; reopen the inode to read.
			if src == nil {
				if src, err = os.Open("/proc/self/fd/" + strconv.Itoa(fd)); err != nil {
					return fmt.Errorf("journal: read old content: %w", err)
				}
			}
			if _, err = src.ReadAt(data, blk*blockSize); errors.Is(err, io.EOF) {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("journal: read old content: %w", err)
		}
		if _, err := fu.log.WriteAt(rec[:8+n], headerSize+fu.n*slotSize); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		fu.n++
		if err := fu.writeHeader(uint64(fu.size)); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		fu.saved[blk] = true
	}
	return nil
}

// synced makes the current content of file ino durable.
func (j *journal) synced(ino uint64) error {
	fu := j.files[ino]
	if fu == nil || fu.clean {
		return nil
	}
	if j.nclean >= maxClean {
		j.dropClean()
	}
	fu.n = 0
	if err := fu.writeHeader(cleanSize); err != nil {
		fu.log.Close()
		delete(j.files, ino)
		return errors.Join(err, ignoreMissing(os.Remove(j.path(dataDir, ino))))
	}
	fu.clean, fu.saved = true, nil
	j.nclean++
	return nil
}

// forget drops the undo log of file ino.
func (j *journal) forget(ino uint64) error {
	fu := j.files[ino]
	if fu == nil {
		return nil
	}
	fu.log.Close()
	if fu.clean {
		j.nclean--
	}
	delete(j.files, ino)
	return ignoreMissing(os.Remove(j.path(dataDir, ino)))
}

// dropClean closes and removes the clean undo logs.
func (j *journal) dropClean() {
	for ino, fu := range j.files {
		if fu.clean {
			j.forget(ino)
		}
	}
}

// dirty reports whether some file has content that is not durable.
func (j *journal) dirty() bool {
	return len(j.files) > j.nclean
}

// undo brings the file at p back to its durable content.
func (j *journal) undo(ino uint64, fu *fileUndo, p string) error {
	b := make([]byte, headerSize+fu.n*slotSize)
	n, err := fu.log.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	b = b[:n]
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(fu.size); err != nil {
		return err
	}
	for i := range fu.n {
		rec := b[headerSize+i*slotSize:]
		blk := int64(binary.LittleEndian.Uint64(rec))
		if _, err := f.WriteAt(rec[8:8+blockLen(fu.size, blk)], blk*blockSize); err != nil {
			return err
		}
	}
	return nil
}
