package docker

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/clstr-dev/clstr/attest/cluster"
)

// targetImage returns the image to run the user's program from, building
// it first when the options name a directory or a binary.
func (r *Runtime) targetImage(ctx context.Context) (string, error) {
	switch {
	case r.opts.Image != "":
		if _, err := r.cli.ImageInspect(ctx, r.opts.Image); err != nil {
			if client.IsErrNotFound(err) {
				return "", &cluster.TargetError{Err: fmt.Errorf("image %q is not on this Docker daemon: build or load it first (clstr does not pull images)", r.opts.Image)}
			}
			return "", fmt.Errorf("inspect image %q: %w", r.opts.Image, err)
		}
		return r.opts.Image, nil
	case r.opts.Binary != "":
		return r.binaryImage(ctx, r.opts.Binary, "target", "", nil, nil)
	default:
		return r.dirImage(ctx, r.opts.Dir)
	}
}

// binaryImage wraps a static Linux executable in a FROM scratch image,
// tagged by the executable's content so an unchanged binary is not rebuilt.
// entrypointArgs follow the binary in the image's entrypoint; extra maps
// further absolute paths in the image to host files (a dynamically linked
// binary's loader and libraries). Only extra-less binaries must be static.
func (r *Runtime) binaryImage(ctx context.Context, binPath, role, name string, entrypointArgs []string, extra map[string]string) (string, error) {
	wrapErr := func(err error) error {
		if role == "target" {
			return &cluster.TargetError{Err: err}
		}
		return err
	}
	key := fmt.Sprintln(role, binPath, name, entrypointArgs, extra)
	stamp := fileStamp(append([]string{binPath}, slices.Sorted(maps.Values(extra))...))
	if tag, ok := r.images.lookup(key, stamp); ok {
		if _, err := r.cli.ImageInspect(ctx, tag); err == nil {
			return tag, nil
		}
	}
	bin, err := os.ReadFile(binPath)
	if err != nil {
		return "", wrapErr(fmt.Errorf("read binary: %w", err))
	}
	if len(extra) == 0 {
		if err := checkStatic(binPath, bin); err != nil {
			return "", wrapErr(err)
		}
	}
	if name == "" {
		name = filepath.Base(binPath)
	}
	h := sha256.New()
	h.Write(bin)
	fmt.Fprintln(h, name, entrypointArgs)
	files := []struct {
		name string
		mode int64
		data []byte
	}{{"rootfs/app/" + name, 0o755, bin}}
	for _, dst := range slices.Sorted(maps.Keys(extra)) {
		data, err := os.ReadFile(extra[dst])
		if err != nil {
			return "", err
		}
		fmt.Fprintln(h, dst)
		h.Write(data)
		files = append(files, struct {
			name string
			mode int64
			data []byte
		}{"rootfs" + dst, 0o755, data})
	}
	sum := h.Sum(nil)
	tag := fmt.Sprintf("clstr-%s:%s", role, hex.EncodeToString(sum)[:16])
	if _, err := r.cli.ImageInspect(ctx, tag); err == nil {
		r.replace(key, stamp, tag)
		return tag, nil
	}

	entry, _ := json.Marshal(append([]string{"/app/" + name}, entrypointArgs...))
	dockerfile := fmt.Sprintf("FROM scratch\nCOPY rootfs/ /\nWORKDIR /app\nENTRYPOINT %s\n", entry)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}); err != nil {
		return "", err
	}
	if _, err := io.WriteString(tw, dockerfile); err != nil {
		return "", err
	}
	dirs := map[string]bool{"rootfs/run/": true, "rootfs/tmp/": true}
	for _, f := range files {
		for d := path.Dir(f.name); d != "."; d = path.Dir(d) {
			dirs[d+"/"] = true
		}
	}
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			return "", err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := r.build(ctx, &buf, tag, role); err != nil {
		return "", wrapErr(err)
	}
	r.replace(key, stamp, tag)
	return tag, nil
}

// replace remembers tag as the image of key's files, and removes the
// image it replaces.
func (r *Runtime) replace(key, stamp, tag string) {
	if old := r.images.last(key); old != "" && old != tag {
		r.supersede(old)
	}
	r.images.store(key, stamp, tag)
}

// supersede removes, in the background, the image of an earlier build of
// a target that a new build replaced, so that a day of rebuilds under
// clstr run --watch does not leave an image per build. Docker refuses to
// remove an image a container still uses, and then it stays.
func (r *Runtime) supersede(old string) {
	r.superseded.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		_, _ = r.cli.ImageRemove(ctx, old, image.RemoveOptions{PruneChildren: true})
	})
}

// imageCache remembers the image built from a set of files for as long as
// none of them changes, so that a new cluster of an unchanged binary skips
// reading and hashing it.
type imageCache struct {
	mu sync.Mutex // guards m
	m  map[string]cachedImage
}

type cachedImage struct{ stamp, tag string }

func (c *imageCache) lookup(key, stamp string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	return e.tag, ok && stamp != "" && e.stamp == stamp
}

// last returns the image last stored for key, whatever its stamp, or "".
func (c *imageCache) last(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key].tag
}

func (c *imageCache) store(key, stamp, tag string) {
	if stamp == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedImage{}
	}
	c.m[key] = cachedImage{stamp, tag}
}

// fileStamp identifies the current content of files by their size,
// modification time and inode, or is "" if one cannot be read.
func fileStamp(paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return ""
		}
		fmt.Fprintf(&b, "%s %d %d %d\n", p, fi.Size(), fi.ModTime().UnixNano(), inode(fi))
	}
	return b.String()
}

// checkStatic refuses what cannot run in a FROM scratch image: anything but
// a statically linked Linux ELF executable.
func checkStatic(path string, bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("%s is not a Linux executable (ELF): a --binary target must be built for Linux", path)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked, so it cannot run in a FROM scratch image: build it statically (Go: CGO_ENABLED=0 go build; Rust: --target x86_64-unknown-linux-musl), or use a Dockerfile target", path)
		}
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s is not an executable", path)
	}
	return nil
}

// dirImage builds the Dockerfile in dir, honouring its .dockerignore.
func (r *Runtime) dirImage(ctx context.Context, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(abs, "Dockerfile")); err != nil {
		return "", &cluster.TargetError{Err: fmt.Errorf("no Dockerfile in %s: add one, or run a static binary with --binary", abs)}
	}
	var buf bytes.Buffer
	if err := tarDir(abs, &buf); err != nil {
		return "", fmt.Errorf("pack build context %s: %w", abs, err)
	}
	sum := sha256.Sum256([]byte(abs))
	tag := "clstr-target-" + hex.EncodeToString(sum[:])[:12] + ":latest"
	var before string
	if img, err := r.cli.ImageInspect(ctx, tag); err == nil {
		before = img.ID
	}
	if err := r.build(ctx, &buf, tag, "target"); err != nil {
		return "", &cluster.TargetError{Err: err}
	}
	// A changed directory moves the tag to a new image; the one it leaves
	// untagged is the last build's.
	if img, err := r.cli.ImageInspect(ctx, tag); before != "" && err == nil && img.ID != before {
		r.supersede(before)
	}
	return tag, nil
}

// tarDir writes dir as a build context, leaving out what .dockerignore
// excludes (the Dockerfile and .dockerignore always go in).
func tarDir(dir string, w io.Writer) error {
	var patterns []string
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return fmt.Errorf(".dockerignore: %w", err)
		}
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf(".dockerignore: %w", err)
	}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != "Dockerfile" && rel != ".dockerignore" {
			skip, err := pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if skip {
				if d.IsDir() && !pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = rel
		if d.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// build runs a classic (non-BuildKit) build, which every daemon version has
// and which never needs a registry for FROM scratch. A failed build returns
// the builder's error with the last lines of its output.
func (r *Runtime) build(ctx context.Context, context io.Reader, tag, role string) error {
	resp, err := r.cli.ImageBuild(ctx, context, build.ImageBuildOptions{
		Tags:        []string{tag},
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
		Labels:      map[string]string{LabelRole: role},
	})
	if err != nil {
		return fmt.Errorf("image build: %w", err)
	}
	defer resp.Body.Close()

	var tail []string
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("image build: reading the builder's output: %w", err)
		}
		if msg.Stream != "" {
			if r.opts.BuildOutput != nil {
				io.WriteString(r.opts.BuildOutput, msg.Stream)
			}
			for _, l := range strings.Split(strings.TrimRight(msg.Stream, "\n"), "\n") {
				tail = append(tail, l)
				if len(tail) > 20 {
					tail = tail[1:]
				}
			}
		}
		if msg.Error != "" || msg.ErrorDetail.Message != "" {
			m := msg.ErrorDetail.Message
			if m == "" {
				m = msg.Error
			}
			return fmt.Errorf("image build failed: %s\nlast build output:\n  %s", m, strings.Join(tail, "\n  "))
		}
	}
}
