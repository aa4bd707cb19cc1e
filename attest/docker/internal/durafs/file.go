//go:build linux

package durafs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// file is an open regular file of the mount. Writes save the durable
// bytes they overwrite first; fsync declares the content durable.
type file struct {
	*fs.LoopbackFile
	s    *Server
	ino  uint64 // of the backing file
	fd   int    // of the backing file, owned by LoopbackFile
	sync bool   // opened with O_SYNC or O_DSYNC: every write is durable
}

var (
	_ fs.FileWriter    = (*file)(nil)
	_ fs.FileWritever  = (*file)(nil)
	_ fs.FileFsyncer   = (*file)(nil)
	_ fs.FileAllocater = (*file)(nil)
)

// wrap turns a loopback handle into a journaled one.
func (s *Server) wrap(fh fs.FileHandle, flags uint32) (*file, syscall.Errno) {
	lf, ok := fh.(*fs.LoopbackFile)
	if !ok {
		return nil, syscall.EIO
	}
	fd, ok := lf.PassthroughFd()
	if !ok {
		lf.Release(context.Background())
		return nil, syscall.EBADF
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		lf.Release(context.Background())
		return nil, fs.ToErrno(err)
	}
	return &file{LoopbackFile: lf, s: s, ino: st.Ino, fd: fd, sync: flags&syscall.O_DSYNC != 0}, 0
}

// PassthroughFd refuses passthrough: the kernel would write past the
// journal.
func (f *file) PassthroughFd() (int, bool) { return 0, false }

func (f *file) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if f.s.lost.Load() {
		return nil, syscall.EIO
	}
	return f.LoopbackFile.Read(ctx, buf, off)
}

func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	return f.Writev(ctx, [][]byte{data}, off)
}

func (f *file) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	if errno := f.s.begin(); errno != 0 {
		return 0, errno
	}
	defer f.s.end()
	var n int64
	for _, b := range data {
		n += int64(len(b))
	}
	if err := f.s.j.saveRange(f.ino, f.fd, off, off+n); err != nil {
		return 0, syscall.EIO
	}
	var w uint32
	var errno syscall.Errno
	if len(data) == 1 {
		w, errno = f.LoopbackFile.Write(ctx, data[0], off)
	} else {
		w, errno = f.LoopbackFile.Writev(ctx, data, off)
	}
	if errno == 0 && f.sync {
		// The backing file is open with the same flag, so the write
		// itself was synchronous.
		if err := f.s.j.synced(f.ino); err != nil {
			return w, syscall.EIO
		}
	}
	return w, errno
}

// Fsync makes the file's current content durable.
func (f *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if f.s.lost.Load() {
		return syscall.EIO
	}
	// A write racing with this fsync may or may not become durable, as
	// on a disk.
	if errno := f.LoopbackFile.Fsync(ctx, flags); errno != 0 {
		return errno
	}
	if errno := f.s.begin(); errno != 0 {
		return errno
	}
	defer f.s.end()
	if err := f.s.j.synced(f.ino); err != nil {
		return syscall.EIO
	}
	return 0
}

func (f *file) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	if errno := f.s.begin(); errno != 0 {
		return errno
	}
	defer f.s.end()
	if mode&^unix.FALLOC_FL_KEEP_SIZE != 0 {
		// Punching, zeroing, collapsing or inserting changes content
		// from off on.
		if err := f.s.j.saveRange(f.ino, f.fd, int64(off), 1<<62); err != nil {
			return syscall.EIO
		}
	}
	return f.LoopbackFile.Allocate(ctx, off, size, mode)
}

// Ioctl is refused: some (FICLONE, for one) change contents unseen.
func (f *file) Ioctl(ctx context.Context, cmd uint32, arg uint64, input []byte, output []byte) (int32, syscall.Errno) {
	return 0, syscall.ENOTTY
}

// truncate sets the file's size; the caller holds the server's lock.
func (f *file) truncate(size int64) syscall.Errno {
	if err := f.s.j.saveRange(f.ino, f.fd, size, 1<<62); err != nil {
		return syscall.EIO
	}
	return fs.ToErrno(syscall.Ftruncate(f.fd, size))
}
