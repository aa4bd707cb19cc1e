package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// stateFile is the node's state in DATA_DIR.
const stateFile = "gossip.json"

// state is what the node keeps on disk: every message it knows, those it
// took from clients, and every node's sums, as far as it knows them.
type state struct {
	Messages []int64          `json:"messages"`
	Mine     []int64          `json:"mine"`
	Inc      map[string]int64 `json:"inc"`
	Dec      map[string]int64 `json:"dec"`
}

// save writes the state to DATA_DIR, durably: a new file, fsynced, then
// renamed over the old one, and the directory fsynced. A save that
// returns covers every change made before it was called; it writes
// nothing if a save since then did.
func (n *Node) save() error {
	if n.dir == "" {
		return nil
	}
	n.mu.Lock()
	want := n.gen
	n.mu.Unlock()
	n.saveMu.Lock()
	defer n.saveMu.Unlock()
	if n.saved >= want {
		return nil
	}
	n.mu.Lock()
	gen := n.gen
	st := state{Messages: slices.Clone(n.messages), Mine: slices.Clone(n.mine), Inc: maps.Clone(n.inc), Dec: maps.Clone(n.dec)}
	n.mu.Unlock()
	if err := n.write(st); err != nil {
		return err
	}
	n.saved = gen
	return nil
}

// write puts st in DATA_DIR.
func (n *Node) write(st state) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(n.dir, stateFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(n.dir, stateFile)); err != nil {
		return err
	}
	d, err := os.Open(n.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// load reads the state a previous run saved, if any. The messages the node
// took from clients are its to deliver again: a peer that missed one
// before the restart gets it now, and the hub's word spares the others.
func (n *Node) load() error {
	if n.dir == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(n.dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return err
	}
	for _, m := range st.Messages {
		n.learn(m)
	}
	n.mine = st.Mine
	now := time.Now()
	for _, m := range n.mine {
		n.originate(m, now)
	}
	merge(n.inc, st.Inc)
	merge(n.dec, st.Dec)
	if n.bug == bugDoubleCount {
		// The bug: the node replays its own adds on top of a state that
		// already holds them.
		n.inc[n.self] *= 2
		n.dec[n.self] *= 2
	}
	n.version++
	n.gen++
	return nil
}
