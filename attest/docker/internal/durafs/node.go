//go:build linux

package durafs

import (
	"context"
	"os"
	"path/filepath"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// node is a file or directory of the mount. It is a loopback node whose
// every change to names or contents first records what undoes it.
type node struct {
	fs.LoopbackNode
	s *Server
}

var (
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeMkdirer        = (*node)(nil)
	_ fs.NodeMknoder        = (*node)(nil)
	_ fs.NodeSymlinker      = (*node)(nil)
	_ fs.NodeLinker         = (*node)(nil)
	_ fs.NodeUnlinker       = (*node)(nil)
	_ fs.NodeRmdirer        = (*node)(nil)
	_ fs.NodeRenamer        = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeFsyncer        = (*node)(nil)
	_ fs.NodeCopyFileRanger = (*node)(nil)
	_ fs.NodeTmpfiler       = (*node)(nil)
	_ fs.FileFsyncdirer     = (*dirHandle)(nil)
)

func (n *node) path() string { return n.s.backingPath(n.EmbeddedInode()) }

// changing records this directory's names before a change to them.
func (n *node) changing() (uint64, syscall.Errno) {
	p := n.path()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return 0, fs.ToErrno(err)
	}
	if err := n.s.j.dirChanging(st.Ino, p); err != nil {
		return 0, syscall.EIO
	}
	return st.Ino, 0
}

// beginChange begins a change to this directory's names (Server.begin)
// and records them first.
func (n *node) beginChange() syscall.Errno {
	if errno := n.s.begin(); errno != 0 {
		return errno
	}
	if _, errno := n.changing(); errno != 0 {
		n.s.end()
		return errno
	}
	return 0
}

func lstatIno(p string) (syscall.Stat_t, syscall.Errno) {
	var st syscall.Stat_t
	err := syscall.Lstat(p, &st)
	return st, fs.ToErrno(err)
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.beginChange(); errno != 0 {
		return nil, nil, 0, errno
	}
	defer n.s.end()
	ch, fh, fflags, errno := n.LoopbackNode.Create(ctx, name, flags|syscall.O_EXCL, mode, out)
	fresh := errno == 0
	if errno == syscall.EEXIST && flags&syscall.O_EXCL == 0 {
		// Someone else made it first: open it as it is.
		ch, fh, fflags, errno = n.LoopbackNode.Create(ctx, name, flags&^syscall.O_TRUNC, mode, out)
	}
	if errno != 0 {
		return nil, nil, 0, errno
	}
	f, errno := n.s.wrap(fh, flags)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	if fresh {
		if err := n.s.j.created(f.ino); err != nil {
			f.Release(ctx)
			return nil, nil, 0, syscall.EIO
		}
	} else if flags&syscall.O_TRUNC != 0 {
		if errno := f.truncate(0); errno != 0 {
			f.Release(ctx)
			return nil, nil, 0, errno
		}
	}
	return ch, f, fflags, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.beginChange(); errno != 0 {
		return nil, errno
	}
	defer n.s.end()
	ch, errno := n.LoopbackNode.Mkdir(ctx, name, mode, out)
	if errno != 0 {
		return nil, errno
	}
	st, errno := lstatIno(filepath.Join(n.path(), name))
	if errno != 0 {
		return nil, errno
	}
	if err := n.s.j.newDir(st.Ino); err != nil {
		return nil, syscall.EIO
	}
	return ch, 0
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.beginChange(); errno != 0 {
		return nil, errno
	}
	defer n.s.end()
	return n.LoopbackNode.Mknod(ctx, name, mode, rdev, out)
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.beginChange(); errno != 0 {
		return nil, errno
	}
	defer n.s.end()
	return n.LoopbackNode.Symlink(ctx, target, name, out)
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := n.beginChange(); errno != 0 {
		return nil, errno
	}
	defer n.s.end()
	return n.LoopbackNode.Link(ctx, target, name, out)
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if errno := n.beginChange(); errno != 0 {
		return errno
	}
	defer n.s.end()
	if _, errno := n.retireEntry(filepath.Join(n.path(), name), false); errno != 0 {
		return errno
	}
	return n.LoopbackNode.Unlink(ctx, name)
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	if errno := n.beginChange(); errno != 0 {
		return errno
	}
	defer n.s.end()
	moved, errno := n.retireEntry(filepath.Join(n.path(), name), true)
	if errno != 0 || moved {
		return errno
	}
	return n.LoopbackNode.Rmdir(ctx, name)
}

// retireEntry checks that the entry at p can go, as rmdir (dir) or unlink
// would, and records what undoes its removal: an empty directory, or the
// last name of a file. moved reports that the journal has moved the
// directory aside, so that it is gone already.
func (n *node) retireEntry(p string, dir bool) (moved bool, errno syscall.Errno) {
	var st syscall.Stat_t
	if dir {
		st, errno = removableDir(p)
	} else if st, errno = lstatIno(p); errno == 0 && isDir(st) {
		errno = syscall.EISDIR
	}
	if errno != 0 {
		return false, errno
	}
	if !dir && st.Nlink != 1 {
		// Another name keeps the content.
		return false, 0
	}
	moved, err := n.s.j.retire(st.Ino, p, dir)
	if err != nil {
		return false, syscall.EIO
	}
	return moved, 0
}

func isDir(st syscall.Stat_t) bool { return st.Mode&syscall.S_IFMT == syscall.S_IFDIR }

// removableDir checks that p is an empty directory, as rmdir would.
func removableDir(p string) (syscall.Stat_t, syscall.Errno) {
	st, errno := lstatIno(p)
	if errno != 0 {
		return st, errno
	}
	if !isDir(st) {
		return st, syscall.ENOTDIR
	}
	f, err := os.Open(p)
	if err != nil {
		return st, fs.ToErrno(err)
	}
	defer f.Close()
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return st, syscall.ENOTEMPTY
	}
	return st, 0
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags&^unix.RENAME_NOREPLACE != 0 {
		return syscall.EINVAL
	}
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	if errno := n.s.begin(); errno != 0 {
		return errno
	}
	defer n.s.end()
	srcIno, errno := n.changing()
	if errno != 0 {
		return errno
	}
	dstIno, errno := np.changing()
	if errno != 0 {
		return errno
	}
	from, to := filepath.Join(n.path(), name), filepath.Join(np.path(), newName)
	src, errno := lstatIno(from)
	if errno != 0 {
		return errno
	}
	if dst, errno := lstatIno(to); errno == 0 && dst.Ino != src.Ino {
		if flags&unix.RENAME_NOREPLACE != 0 {
			return syscall.EEXIST
		}
		switch srcDir, dstDir := isDir(src), isDir(dst); {
		case dstDir && !srcDir:
			return syscall.EISDIR
		case srcDir && !dstDir:
			return syscall.ENOTDIR
		}
		if _, errno := n.retireEntry(to, isDir(dst)); errno != 0 {
			return errno
		}
	}
	if errno := n.LoopbackNode.Rename(ctx, name, newParent, newName, flags); errno != 0 {
		return errno
	}
	if srcIno != dstIno {
		r := crossRename{src: srcIno, dst: dstIno, oldName: name, newName: newName, ino: src.Ino}
		if err := n.s.j.addRename(r); err != nil {
			return syscall.EIO
		}
	}
	return 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if errno := n.s.begin(); errno != 0 {
		return nil, 0, errno
	}
	defer n.s.end()
	fh, fflags, errno := n.LoopbackNode.Open(ctx, flags&^syscall.O_TRUNC)
	if errno != 0 {
		return nil, 0, errno
	}
	f, errno := n.s.wrap(fh, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	if flags&syscall.O_TRUNC != 0 {
		if errno := f.truncate(0); errno != 0 {
			f.Release(ctx)
			return nil, 0, errno
		}
	}
	return f, fflags, 0
}

func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if errno := n.s.begin(); errno != 0 {
		return errno
	}
	defer n.s.end()
	var inner fs.FileHandle
	if f, ok := fh.(*file); ok {
		inner = f.LoopbackFile
	}
	if size, ok := in.GetSize(); ok {
		if f, ok := fh.(*file); ok {
			if errno := f.truncate(int64(size)); errno != 0 {
				return errno
			}
		} else if errno := n.truncatePath(int64(size)); errno != 0 {
			return errno
		}
		rest := *in
		rest.Valid &^= fuse.FATTR_SIZE
		in = &rest
	}
	return n.LoopbackNode.Setattr(ctx, inner, in, out)
}

// truncatePath truncates the node's file by its path.
func (n *node) truncatePath(size int64) syscall.Errno {
	p := n.path()
	r, err := os.Open(p)
	if err != nil {
		return fs.ToErrno(err)
	}
	defer r.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(r.Fd()), &st); err != nil {
		return fs.ToErrno(err)
	}
	if err := n.s.j.saveRange(st.Ino, int(r.Fd()), size, 1<<62); err != nil {
		return syscall.EIO
	}
	return fs.ToErrno(syscall.Truncate(p, size))
}

// Fsync makes a file's content, or a directory's names, durable.
func (n *node) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	if n.IsDir() {
		return n.syncDir()
	}
	if f, ok := fh.(*file); ok {
		return f.Fsync(ctx, flags)
	}
	return syscall.EBADF
}

// syncDir makes the directory's names durable.
func (n *node) syncDir() syscall.Errno {
	p := n.path()
	d, err := os.Open(p)
	if err != nil {
		return fs.ToErrno(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fs.ToErrno(err)
	}
	if errno := n.s.begin(); errno != 0 {
		return errno
	}
	defer n.s.end()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(d.Fd()), &st); err != nil {
		return fs.ToErrno(err)
	}
	if err := n.s.j.dirSynced(st.Ino); err != nil {
		return syscall.EIO
	}
	return 0
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	ds, errno := fs.NewLoopbackDirStream(n.path())
	if errno != 0 {
		return nil, 0, errno
	}
	h := &dirHandle{n: n}
	h.FileReaddirenter, _ = ds.(fs.FileReaddirenter)
	h.FileReleasedirer, _ = ds.(fs.FileReleasedirer)
	h.FileSeekdirer, _ = ds.(fs.FileSeekdirer)
	if h.FileReaddirenter == nil || h.FileReleasedirer == nil || h.FileSeekdirer == nil {
		ds.Close()
		return nil, 0, syscall.ENOTSUP
	}
	return h, 0, 0
}

// dirHandle is an open directory; its fsync makes the names durable.
type dirHandle struct {
	fs.FileReaddirenter
	fs.FileReleasedirer
	fs.FileSeekdirer
	n *node
}

func (h *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return h.n.syncDir()
}

// CopyFileRange is refused, so the kernel copies with reads and writes,
// which are journaled.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, len uint64, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// Tmpfile is not offered: a file linked in later would escape the rules.
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EOPNOTSUPP
}
