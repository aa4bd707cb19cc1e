//go:build linux

package durafs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Options tune a mount.
type Options struct {
	// Journal is the directory that holds the undo information. It must
	// be on the backing directory's file system and outside it. The
	// default is ".<name>.journal" beside the backing directory.
	Journal string

	// AllowOther lets users other than the mounting one use the file
	// system (the kernel still checks permissions).
	AllowOther bool

	// Debug logs every FUSE request.
	Debug bool
}

// Server is a mounted durable file system.
type Server struct {
	backing    string
	mountpoint string
	root       *fs.LoopbackRoot
	fuse       *fuse.Server

	mu sync.Mutex // guards j, and orders every change to backing
	j  *journal

	// lost is set, under mu, when the power is lost or the mount stops:
	// every operation fails from then on.
	lost atomic.Bool
}

// JournalDir is the journal directory Mount uses for backing when
// Options.Journal is empty.
func JournalDir(backing string) string {
	backing = filepath.Clean(backing)
	return filepath.Join(filepath.Dir(backing), "."+filepath.Base(backing)+".journal")
}

// Mount serves the backing directory at mountpoint. A journal left by an
// earlier mount is carried on: what was not durable then still is not.
func Mount(backing, mountpoint string, opts Options) (*Server, error) {
	backing, err := filepath.Abs(backing)
	if err != nil {
		return nil, err
	}
	jdir := opts.Journal
	if jdir == "" {
		jdir = JournalDir(backing)
	}
	if jdir, err = filepath.Abs(jdir); err != nil {
		return nil, err
	}
	if rel, err := filepath.Rel(backing, jdir); err == nil && !strings.HasPrefix(rel, "..") {
		return nil, fmt.Errorf("the journal %s is inside the backing directory %s: choose a journal directory beside it", jdir, backing)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(backing, &st); err != nil {
		return nil, fmt.Errorf("backing directory: %w", &os.PathError{Op: "stat", Path: backing, Err: err})
	}
	if err := os.MkdirAll(jdir, 0o700); err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	var jst syscall.Stat_t
	if err := syscall.Stat(jdir, &jst); err != nil {
		return nil, fmt.Errorf("journal: %w", &os.PathError{Op: "stat", Path: jdir, Err: err})
	}
	if jst.Dev != st.Dev {
		return nil, fmt.Errorf("the journal %s is not on the file system of %s: choose a journal directory beside it", jdir, backing)
	}
	if _, err := os.Stat(filepath.Join(jdir, swapFile)); err == nil {
		return nil, fmt.Errorf("the journal %s holds an unfinished power loss: call Replay before mounting", jdir)
	}
	j, err := openJournal(jdir)
	if err != nil {
		return nil, err
	}
	s := &Server{backing: backing, mountpoint: mountpoint, j: j}
	s.root = &fs.LoopbackRoot{
		Path: backing,
		Dev:  uint64(st.Dev),
		NewNode: func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
			return &node{LoopbackNode: fs.LoopbackNode{RootData: r}, s: s}
		},
	}
	rootNode := s.root.NewNode(s.root, nil, "", &st)
	s.root.RootNode = rootNode
	mo := fuse.MountOptions{
		AllowOther:  opts.AllowOther,
		FsName:      backing,
		Name:        "durafs",
		DirectMount: true,
		Debug:       opts.Debug,
		Options:     []string{"default_permissions"},
	}
	srv, err := fs.Mount(mountpoint, rootNode, &fs.Options{MountOptions: mo})
	if err != nil {
		j.close()
		return nil, mountError(mountpoint, err)
	}
	s.fuse = srv
	return s, nil
}

// PowerLoss loses everything not durable: from now on every operation on
// the file system fails with EIO, the backing directory is brought to its
// durable state, and the file system is unmounted (lazily, if a process
// still uses it). Stop the processes that use the mount first.
func (s *Server) PowerLoss() error {
	s.mu.Lock()
	if s.lost.Load() {
		s.mu.Unlock()
		return errors.New("the file system is no longer served: mount it again")
	}
	s.lost.Store(true)
	err := s.j.restore(s.backing)
	s.mu.Unlock()
	return errors.Join(err, s.unmount())
}

// Unmount stops serving. The journal stays: call Sync to make everything
// durable, as a clean shutdown would, or Replay to lose it later.
func (s *Server) Unmount() error {
	s.mu.Lock()
	s.lost.Store(true)
	s.j.close()
	s.mu.Unlock()
	return s.unmount()
}

func (s *Server) unmount() error {
	if err := s.fuse.Unmount(); err != nil {
		// Busy: detach it now; the kernel lets go when the last user does.
		if derr := syscall.Unmount(s.mountpoint, syscall.MNT_DETACH); derr != nil {
			return fmt.Errorf("unmount %s: %w", s.mountpoint, err)
		}
	}
	return nil
}

// begin takes the lock for a change to the backing directory or the
// journal; it fails once the power is lost.
func (s *Server) begin() syscall.Errno {
	s.mu.Lock()
	if s.lost.Load() {
		s.mu.Unlock()
		return syscall.EIO
	}
	return 0
}

// end lets go of the lock begin took.
func (s *Server) end() { s.mu.Unlock() }

// backingPath is the path in the backing directory of a node.
func (s *Server) backingPath(n *fs.Inode) string {
	return filepath.Join(s.backing, n.Path(s.root.RootNode.EmbeddedInode()))
}

// mountError says what a failed FUSE mount needs.
func mountError(mountpoint string, err error) error {
	if _, serr := os.Stat("/dev/fuse"); serr != nil {
		return fmt.Errorf("mount %s: this system has no /dev/fuse (give the container the device /dev/fuse): %w", mountpoint, err)
	}
	if !hasCap(unix.CAP_SYS_ADMIN) {
		// go-fuse falls back to fusermount, whose absence would be the
		// error shown.
		return fmt.Errorf("mount %s: mounting FUSE needs CAP_SYS_ADMIN, which this process lacks: %w", mountpoint, err)
	}
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("mount %s: mounting FUSE needs CAP_SYS_ADMIN and access to /dev/fuse: %w", mountpoint, err)
	}
	return fmt.Errorf("mount %s: %w", mountpoint, err)
}

// Check reports whether this system can serve a durable file system, by
// mounting an empty one in a temporary directory under dir ("" for the
// default) and unmounting it. Its error says what is missing.
func Check(dir string) error {
	tmp, err := os.MkdirTemp(dir, "durafs-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	backing, mnt := filepath.Join(tmp, "data"), filepath.Join(tmp, "mnt")
	for _, d := range []string{backing, mnt} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	s, err := Mount(backing, mnt, Options{Journal: filepath.Join(tmp, "journal")})
	if err != nil {
		return err
	}
	return s.Unmount()
}
