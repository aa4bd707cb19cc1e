//go:build linux

package durafs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeFsyncLoop does n 4 KiB writes to the file at p, each followed by
// fsync, overwriting the first 1 MiB over and over (append: writing past
// the end instead), and returns the time per write+fsync.
func writeFsyncLoop(b *testing.B, p string, n int, append bool) time.Duration {
	b.Helper()
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	// Start from a durable 1 MiB file, so overwrites have old content.
	if _, err := f.WriteAt(make([]byte, 1<<20), 0); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i := range n {
		off := int64(i%256) * 4096
		if append {
			off = 1<<20 + int64(i)*4096
		}
		buf[0] = byte(i)
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start) / time.Duration(max(n, 1))
}

// BenchmarkWriteFsync measures a 4 KiB write+fsync through the mount
// against the same on a plain directory of the same file system, in the
// same run. The goal is a ratio under 3.
func BenchmarkWriteFsync(b *testing.B) {
	for _, mode := range []string{"overwrite", "append"} {
		b.Run(mode, func(b *testing.B) {
			m := mountT(b, nil)
			plainDir := filepath.Join(filepath.Dir(m.backing), "plain")
			if err := os.Mkdir(plainDir, 0o755); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			through := writeFsyncLoop(b, filepath.Join(m.mnt, "f"), b.N, mode == "append")
			b.StopTimer()
			plain := writeFsyncLoop(b, filepath.Join(plainDir, "f"), b.N, mode == "append")
			b.ReportMetric(float64(through.Microseconds()), "durafs-us/op")
			b.ReportMetric(float64(plain.Microseconds()), "plain-us/op")
			b.ReportMetric(float64(through)/float64(plain), "ratio")
		})
	}
}

// BenchmarkPowerLoss measures the time a power loss takes to undo 10 000
// un-synced 4 KiB writes: overwrites of synced content in 100 files of
// 400 KiB, appends to them, and 1 000 new files. The goal is under 1 s.
func BenchmarkPowerLoss(b *testing.B) {
	const files, blocks, writes = 100, 100, 10000
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m := mountT(b, nil)
		buf := make([]byte, 4096)
		hs := make([]*os.File, files)
		for k := range hs {
			f, err := os.Create(filepath.Join(m.mnt, fmt.Sprintf("f%03d", k)))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(make([]byte, blocks*4096)); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			hs[k] = f
		}
		syncDirB(b, m.mnt)
		r := rand.New(rand.NewPCG(1, 2))
		for w := range writes {
			buf[0] = byte(w)
			switch w % 10 {
			case 0: // a new file, never synced
				if err := os.WriteFile(filepath.Join(m.mnt, fmt.Sprintf("new%05d", w)), buf, 0o644); err != nil {
					b.Fatal(err)
				}
			case 1: // an append
				f := hs[r.IntN(files)]
				if _, err := f.Seek(0, 2); err != nil {
					b.Fatal(err)
				}
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
			default: // an overwrite of synced content
				if _, err := hs[r.IntN(files)].WriteAt(buf, int64(r.IntN(blocks))*4096); err != nil {
					b.Fatal(err)
				}
			}
		}
		for _, f := range hs {
			f.Close()
		}
		b.StartTimer()
		start := time.Now()
		if err := m.s.PowerLoss(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		// Check it: every synced file is back to zeros and its size.
		got := tree(b, m.backing)
		if len(got) != files {
			b.Fatalf("after the power loss %d files, want %d", len(got), files)
		}
		for name, c := range got {
			if len(c) != blocks*4096 || c != string(make([]byte, blocks*4096)) {
				b.Fatalf("%s not restored to its synced content", name)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "replay-ms/op")
}

func syncDirB(b *testing.B, p string) {
	d, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWrite measures the throughput of un-synced 4 KiB writes
// through the mount against a plain directory: each op overwrites a
// synced 4 MiB file once, in 4 KiB writes, then fsyncs it.
func BenchmarkWrite(b *testing.B) {
	m := mountT(b, nil)
	plainDir := filepath.Join(filepath.Dir(m.backing), "plain")
	if err := os.Mkdir(plainDir, 0o755); err != nil {
		b.Fatal(err)
	}
	const size = 4 << 20
	run := func(p string, n int) time.Duration {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 4096)
		if _, err := f.WriteAt(make([]byte, size), 0); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for i := range n {
			buf[0] = byte(i)
			for off := int64(0); off < size; off += 4096 {
				if _, err := f.WriteAt(buf, off); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	b.SetBytes(size)
	b.ResetTimer()
	through := run(filepath.Join(m.mnt, "f"), b.N)
	b.StopTimer()
	plain := run(filepath.Join(plainDir, "f"), b.N)
	mb := float64(size) * float64(b.N) / (1 << 20)
	b.ReportMetric(mb/through.Seconds(), "durafs-MiB/s")
	b.ReportMetric(mb/plain.Seconds(), "plain-MiB/s")
	b.ReportMetric(float64(through)/float64(plain), "ratio")
}

// BenchmarkPowerLossLargeTree measures a power loss in a data directory
// of 10 000 synced files in 100 directories, after one un-synced 4 KiB
// overwrite of each: a restore visits the whole tree.
func BenchmarkPowerLossLargeTree(b *testing.B) {
	const dirs, perDir = 100, 100
	files := map[string]string{}
	for d := range dirs {
		for f := range perDir {
			files[fmt.Sprintf("d%02d/f%02d", d, f)] = "synced"
		}
	}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m := mountT(b, files)
		buf := make([]byte, 4096)
		for p := range files {
			if err := os.WriteFile(filepath.Join(m.mnt, p), buf, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		if err := m.s.PowerLoss(); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		if got := tree(b, m.backing); len(got) != dirs*perDir+dirs || got["d07/f42"] != "synced" {
			b.Fatalf("after the power loss %d entries, d07/f42 = %q", len(got), got["d07/f42"])
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "replay-ms/op")
}
