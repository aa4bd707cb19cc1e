package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/clstr-dev/clstr/internal/testkit/nodehttp"
)

// fsOp is one step of POST /fs, on paths relative to DATA_DIR.
type fsOp struct {
	// Op is one of write (create or truncate, then write, no sync),
	// write_sync (the same through O_SYNC), append, fsync, fdatasync,
	// fsyncdir, rename (Path to To), unlink, mkdir and rmdir.
	Op   string `json:"op"`
	Path string `json:"path"`
	To   string `json:"to,omitempty"`
	Data string `json:"data,omitempty"`
}

// inData returns p inside DATA_DIR, refusing paths that leave it.
func (n *node) inData(p string) (string, error) {
	clean := filepath.Clean("/" + p)
	if p == "" || clean == "/" && p != "." {
		return "", fmt.Errorf("bad path %q", p)
	}
	return filepath.Join(n.dataDir, clean), nil
}

// runFS applies the ops in order and stops at the first that fails.
func (n *node) runFS(w http.ResponseWriter, r *http.Request) {
	var ops []fsOp
	if err := json.NewDecoder(r.Body).Decode(&ops); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for i, op := range ops {
		if err := n.applyFS(op); err != nil {
			http.Error(w, fmt.Sprintf("op %d (%s %s): %v", i, op.Op, op.Path, err), http.StatusInternalServerError)
			return
		}
	}
}

func (n *node) applyFS(op fsOp) error {
	p, err := n.inData(op.Path)
	if err != nil {
		return err
	}
	writeWith := func(flags int) error {
		f, err := os.OpenFile(p, flags, 0o644)
		if err != nil {
			return err
		}
		_, err = f.WriteString(op.Data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	syncPath := func(data bool) error {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if data {
			return fdatasync(f)
		}
		return f.Sync()
	}
	switch op.Op {
	case "write":
		return writeWith(os.O_WRONLY | os.O_CREATE | os.O_TRUNC)
	case "write_sync":
		return writeWith(os.O_WRONLY | os.O_CREATE | os.O_TRUNC | osSync)
	case "append":
		return writeWith(os.O_WRONLY | os.O_CREATE | os.O_APPEND)
	case "fsync", "fsyncdir":
		return syncPath(false)
	case "fdatasync":
		return syncPath(true)
	case "rename":
		to, err := n.inData(op.To)
		if err != nil {
			return err
		}
		return os.Rename(p, to)
	case "unlink":
		return os.Remove(p)
	case "mkdir":
		return os.Mkdir(p, 0o755)
	case "rmdir":
		return os.Remove(p)
	}
	return fmt.Errorf("unknown op %q", op.Op)
}

// listFS answers GET /fs?dir=D: every file under DATA_DIR/D by its path
// relative to D, with its content; directories end in "/" and map to "".
func (n *node) listFS(w http.ResponseWriter, r *http.Request) {
	dir := r.URL.Query().Get("dir")
	if dir == "" {
		dir = "."
	}
	root, err := n.inData(dir)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	tree := map[string]string{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			tree[rel+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		tree[rel] = string(b)
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	nodehttp.WriteJSON(w, tree)
}

// privileges answers GET /privileges: the capability sets and
// no_new_privs of this process as /proc/self/status shows them, why a
// mount of a tmpfs failed ("" if it succeeded), and its descriptors of
// /dev/fuse ("fuse_fds", absent if none).
func privileges(w http.ResponseWriter, r *http.Request) {
	out := map[string]string{}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && (strings.HasPrefix(k, "Cap") || k == "NoNewPrivs" || k == "Uid") {
				out[k] = strings.TrimSpace(v)
			}
		}
	}
	out["mount_error"] = tryMount()
	// A descriptor of /dev/fuse would let the program answer its own
	// file system's requests.
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if target, _ := os.Readlink("/proc/self/fd/" + fd.Name()); target == "/dev/fuse" {
			out["fuse_fds"] += fd.Name() + " "
		}
	}
	nodehttp.WriteJSON(w, out)
}

// fsyncBench answers GET /fs/bench?n=N: it appends N blocks of 4 KiB to a
// new file in DATA_DIR, each followed by fsync, as a write-ahead log
// does, and reports {"ns_per_op"}: the mean time of one write and its
// fsync.
func (n *node) fsyncBench(w http.ResponseWriter, r *http.Request) {
	count, err := strconv.Atoi(r.URL.Query().Get("n"))
	if err != nil || count < 1 || count > 100000 {
		http.Error(w, "n: give a count from 1 to 100000", http.StatusBadRequest)
		return
	}
	p := filepath.Join(n.dataDir, "fsync-bench")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer os.Remove(p)
	defer f.Close()
	block := make([]byte, 4096)
	start := time.Now()
	for range count {
		if _, err := f.Write(block); err == nil {
			err = f.Sync()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	nodehttp.WriteJSON(w, map[string]int64{"ns_per_op": time.Since(start).Nanoseconds() / int64(count)})
}
