// Package durafs serves a directory through FUSE and loses, on demand,
// what a real disk would lose when the machine loses power.
//
// The file system is a loopback: every operation is applied at once to a
// backing directory, which plays the part of the page cache. Beside it, a
// journal directory holds undo information for everything that is not
// durable yet:
//
//   - per file, the content as of its last fsync: its durable size and the
//     old bytes of every 4 KiB block overwritten or truncated away since
//     (copied on the first change to a block after each fsync);
//   - per directory, its names as of its last fsync (name → inode),
//     written on the first change to the directory after each fsync;
//   - files and directories that lost their last name while a durable
//     directory still names them, kept alive by a link in the journal.
//
// The journal is written before the change it protects, so it survives the
// serving process being killed at any point; it is never fsynced, since the
// power loss it describes is simulated and the host's page cache outlives
// the process. The small files it replaces whole (a directory's names, the
// pending renames, a restore's progress) are renamed into place, so a kill
// finds the old or the new content.
//
// The rules are those of a careful POSIX file system after a crash:
//
//   - A file's content is durable as of its last fsync or fdatasync, or of
//     its last write through a descriptor opened with O_SYNC or O_DSYNC.
//     A file that was never synced is empty.
//   - A directory's names (create, mkdir, mknod, symlink, link, rename,
//     unlink, rmdir) are durable as of its last fsync. A file created and
//     synced in a directory that was not synced since is gone; a rename
//     within a directory not synced since is undone, so a file synced and
//     renamed over another leaves the other's old content under the name.
//   - A rename between two directories is one step: a fsync of either
//     directory makes it durable in both (as a journaling file system
//     commits it in one transaction). Until then, the old name stands and
//     the new one does not.
//   - A directory that is not durably named is gone with everything in it,
//     whatever was synced inside it.
//   - Metadata other than names and contents (mode, owner, times, extended
//     attributes) is kept as last set.
//
// Server.PowerLoss stops the file system (every later operation fails with
// EIO), restores the backing directory to exactly the durable state and
// unmounts. Replay does the same offline from the journal alone, for a
// supervisor that starts again after being killed together with the
// node's program; Sync instead declares everything durable, as a clean
// shutdown would. Mount with a journal left by an earlier run carries on
// from it: what was not durable then is still not durable. A restore
// builds the durable tree beside the backing directory from links to the
// existing files and swaps it in, so it costs time in proportion to the
// whole tree, plus the blocks to put back; a restore cut short by a kill
// finishes on the next Replay.
//
// A supervisor in a node's container uses it so: it holds CAP_SYS_ADMIN
// and /dev/fuse (Check says whether it can mount, and what is missing),
// mounts the data directory's backing store at the data directory, and
// starts the node's program through ExecUnprivileged, which drops every
// capability and sets no_new_privs first, so the program cannot mount or
// unmount anything. To lose power it stops the program and calls
// PowerLoss; if it was killed instead, it calls Replay before the next
// Mount.
//
// Not supported: O_TMPFILE (EOPNOTSUPP), copy_file_range (the kernel falls
// back to reads and writes), RENAME_EXCHANGE (EINVAL), ioctls (ENOTTY),
// and backing trees that span more than one file system. The journal directory must be on
// the backing directory's file system and outside it.
//
// The file system runs on Linux only; on other systems the package is
// empty.
package durafs
