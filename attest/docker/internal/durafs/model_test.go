//go:build linux

package durafs

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// model is what the rules in the package doc say a power loss leaves, for
// files in two directories: every file's current and durable content, and
// every directory's current and durable names.
type model struct {
	files   map[int]*modelFile
	dirs    map[string]*modelDir
	renames []modelRename
	next    int
}

type modelFile struct{ cur, dur []byte }

type modelDir struct{ cur, dur map[string]int }

type modelRename struct {
	src, dst         string
	oldName, newName string
	id               int
}

func newModel(dirs ...string) *model {
	m := &model{files: map[int]*modelFile{}, dirs: map[string]*modelDir{}}
	for _, d := range dirs {
		m.dirs[d] = &modelDir{cur: map[string]int{}, dur: map[string]int{}}
	}
	return m
}

func (m *model) write(d, name string, off int, data []byte) {
	id, ok := m.dirs[d].cur[name]
	if !ok {
		m.next++
		id = m.next
		m.files[id] = &modelFile{}
		m.dirs[d].cur[name] = id
	}
	f := m.files[id]
	if len(f.cur) < off+len(data) {
		f.cur = append(f.cur, make([]byte, off+len(data)-len(f.cur))...)
	}
	copy(f.cur[off:], data)
}

func (m *model) truncate(d, name string, size int) {
	f := m.files[m.dirs[d].cur[name]]
	if size <= len(f.cur) {
		f.cur = f.cur[:size]
	} else {
		f.cur = append(f.cur, make([]byte, size-len(f.cur))...)
	}
}

func (m *model) fsync(d, name string) {
	f := m.files[m.dirs[d].cur[name]]
	f.dur = append([]byte(nil), f.cur...)
}

func (m *model) fsyncDir(d string) {
	m.dirs[d].dur = maps.Clone(m.dirs[d].cur)
	var rest []modelRename
	for _, r := range m.renames {
		switch d {
		case r.src:
			m.dirs[r.dst].dur[r.newName] = r.id
		case r.dst:
			if m.dirs[r.src].dur[r.oldName] == r.id {
				delete(m.dirs[r.src].dur, r.oldName)
			}
		default:
			rest = append(rest, r)
		}
	}
	m.renames = rest
}

func (m *model) rename(d1, n1, d2, n2 string) {
	id := m.dirs[d1].cur[n1]
	delete(m.dirs[d1].cur, n1)
	m.dirs[d2].cur[n2] = id
	if d1 != d2 {
		m.renames = append(m.renames, modelRename{d1, d2, n1, n2, id})
	}
}

func (m *model) unlink(d, name string) { delete(m.dirs[d].cur, name) }

// durable is the tree a power loss must leave.
func (m *model) durable() map[string]string {
	want := map[string]string{}
	for d, dir := range m.dirs {
		want[d+"/"] = ""
		for name, id := range dir.dur {
			want[d+"/"+name] = string(m.files[id].dur)
		}
	}
	return want
}

// TestPowerLossModel runs random sequences of writes, truncations,
// fsyncs, renames and unlinks through the mount and checks what a power
// loss leaves against the model.
func TestPowerLossModel(t *testing.T) {
	for seed := range 24 {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			fsys := mountT(t, map[string]string{"a/": "", "b/": ""})
			m := newModel("a", "b")
			r := rand.New(rand.NewPCG(uint64(seed), 23))
			var log []string
			for range 80 {
				log = append(log, step(t, r, m, fsys.mnt))
			}
			offline := seed%2 == 1
			if offline {
				must(t, fsys.s.Unmount())
				must(t, Replay(fsys.backing, fsys.journal))
			} else {
				must(t, fsys.s.PowerLoss())
			}
			got, want := tree(t, fsys.backing), m.durable()
			if !maps.Equal(got, want) {
				t.Errorf("after %s, steps:\n  %s\nthe backing directory holds\n%s\nwant\n%s",
					map[bool]string{false: "PowerLoss", true: "Replay"}[offline],
					strings.Join(log, "\n  "), show(got), show(want))
			}
		})
	}
}

// step does one random operation on the mount and the model, and says
// what it did.
func step(t *testing.T, r *rand.Rand, m *model, mnt string) string {
	t.Helper()
	dirs := []string{"a", "b"}
	d := dirs[r.IntN(2)]
	name := fmt.Sprint("f", r.IntN(4))
	p := filepath.Join(mnt, d, name)
	_, exists := m.dirs[d].cur[name]
	switch op := r.IntN(10); {
	case op < 3 || !exists:
		off := r.IntN(3 * blockSize)
		if !exists {
			off = 0
		}
		data := []byte(strings.Repeat(string(rune('A'+r.IntN(26))), 1+r.IntN(2*blockSize)))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
		must(t, err)
		_, err = f.WriteAt(data, int64(off))
		must(t, errors.Join(err, f.Close()))
		m.write(d, name, off, data)
		return fmt.Sprintf("write %s/%s at %d, %d bytes", d, name, off, len(data))
	case op == 3:
		size := r.IntN(3 * blockSize)
		must(t, os.Truncate(p, int64(size)))
		m.truncate(d, name, size)
		return fmt.Sprintf("truncate %s/%s to %d", d, name, size)
	case op < 6:
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		must(t, err)
		must(t, errors.Join(f.Sync(), f.Close()))
		m.fsync(d, name)
		return fmt.Sprintf("fsync %s/%s", d, name)
	case op < 8:
		syncDir(t, filepath.Join(mnt, d))
		m.fsyncDir(d)
		return fmt.Sprintf("fsync %s/", d)
	case op == 8:
		d2 := dirs[r.IntN(2)]
		n2 := fmt.Sprint("f", r.IntN(4))
		if d2 == d && n2 == name {
			return "nothing"
		}
		must(t, os.Rename(p, filepath.Join(mnt, d2, n2)))
		m.rename(d, name, d2, n2)
		return fmt.Sprintf("rename %s/%s to %s/%s", d, name, d2, n2)
	default:
		must(t, os.Remove(p))
		m.unlink(d, name)
		return fmt.Sprintf("unlink %s/%s", d, name)
	}
}
