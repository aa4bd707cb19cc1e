package starlark

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// The bounds of an unpacked challenge archive.
const (
	MaxArchiveFiles = 1000
	MaxArchiveBytes = 64 << 20
)

// IsArchive reports whether name is a challenge archive Unpack reads:
// .tar.gz, .tgz or .zip.
func IsArchive(name string) bool {
	for _, ext := range []string{".tar.gz", ".tgz", ".zip"} {
		if strings.HasSuffix(strings.ToLower(name), ext) {
			return true
		}
	}
	return false
}

// Unpack unpacks the challenge archive at name into dir, which must exist.
// It takes directories and regular files only, each inside dir: an entry
// with an absolute path or a ".." that leaves dir, a link, a device or a
// pipe makes it fail, as do more than MaxArchiveFiles entries or more than
// MaxArchiveBytes unpacked. Nothing is written outside dir; on failure,
// what was written stays in dir for the caller to remove.
func Unpack(name, dir string) error {
	u := &unpacker{dir: dir}
	var err error
	if strings.HasSuffix(strings.ToLower(name), ".zip") {
		err = u.zip(name)
	} else {
		err = u.tarGz(name)
	}
	if err != nil {
		return fmt.Errorf("unpack %s: %w", name, err)
	}
	return nil
}

type unpacker struct {
	dir   string
	files int
	bytes int64
}

// target returns where an entry goes, or why it may not.
func (u *unpacker) target(entry string) (string, error) {
	u.files++
	if u.files > MaxArchiveFiles {
		return "", fmt.Errorf("more than %d entries", MaxArchiveFiles)
	}
	clean := path.Clean(strings.TrimPrefix(entry, "./"))
	if strings.Contains(entry, "\\") || path.IsAbs(entry) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("entry %q leaves the archive's directory", entry)
	}
	if clean == "." {
		return u.dir, nil
	}
	return filepath.Join(u.dir, filepath.FromSlash(clean)), nil
}

// write copies one regular file's contents, counting them.
func (u *unpacker) write(dst string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, MaxArchiveBytes-u.bytes+1))
	u.bytes += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && u.bytes > MaxArchiveBytes {
		err = fmt.Errorf("more than %d MiB unpacked", MaxArchiveBytes>>20)
	}
	return err
}

func (u *unpacker) tarGz(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	// Headers cost too: PAX records of up to 1 MiB each, global headers
	// that name no file. The whole stream is bounded, and so are the
	// headers, files or not.
	stream := &cappedReader{r: gz, left: maxTarStream}
	tr := tar.NewReader(stream)
	for headers := 0; ; headers++ {
		if headers >= MaxArchiveFiles {
			return fmt.Errorf("more than %d entries", MaxArchiveFiles)
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if stream.left < 0 {
			return fmt.Errorf("more than %d bytes unpacked, headers included", maxTarStream)
		}
		if err != nil {
			return err
		}
		dst, err := u.target(h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(dst, 0o755)
		case tar.TypeReg:
			err = u.write(dst, tr)
		case tar.TypeXGlobalHeader:
		default:
			err = fmt.Errorf("entry %q is not a file or a directory (links, devices and pipes are refused)", h.Name)
		}
		if err != nil {
			return err
		}
	}
}

// maxTarStream bounds the bytes of a tar stream after decompression: the
// files' bytes and room for their headers.
const maxTarStream = MaxArchiveBytes + 16<<20

// cappedReader reads at most left bytes; past them it fails, and left is
// negative.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.left = -1
		return 0, fmt.Errorf("more than %d bytes unpacked, headers included", maxTarStream)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

func (u *unpacker) zip(name string) error {
	zr, err := zip.OpenReader(name)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, zf := range zr.File {
		dst, err := u.target(zf.Name)
		if err != nil {
			return err
		}
		mode := zf.Mode()
		switch {
		case mode.IsDir():
			err = os.MkdirAll(dst, 0o755)
		case mode.IsRegular():
			var rc io.ReadCloser
			if rc, err = zf.Open(); err == nil {
				err = u.write(dst, rc)
				rc.Close()
			}
		default:
			err = fmt.Errorf("entry %q is not a file or a directory (links, devices and pipes are refused)", zf.Name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
