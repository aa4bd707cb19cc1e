package main

import (
	"errors"
	"fmt"
	"log"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Store is the node's key-value data and the log that makes it durable.
//
// A write is queued for a committer goroutine, which appends every queued
// record to the log, fsyncs once for all of them (group commit), applies
// them to the map in log order and only then lets the writers answer. The
// map therefore only ever holds durable data, and a reader never sees a
// write that a crash could still take back.
type Store struct {
	bug  string
	path string

	mu   sync.RWMutex // guards data
	data map[string]string

	// file is the log, open for appending; nil when nothing is logged
	// while running (the memory-only and sigterm-only bugs).
	file *os.File

	wmu       sync.Mutex // guards queue, unflushed, err, closing
	queue     []*pending // writes waiting for the committer
	unflushed []byte     // lost-on-sigkill: records acknowledged but not yet written
	err       error      // the first failed log write; the store refuses writes after it
	closing   bool

	wake chan struct{} // capacity 1: the background loop has work
	done chan struct{} // closed when the background loop returns
}

// pending is a write waiting for the committer.
type pending struct {
	op      op
	durable bool       // false only for a clear under the clear-not-durable bug
	done    chan error // receives the outcome once the record is fsynced
}

var errClosed = errors.New("store is shutting down")

// Open loads the store in dir, replaying and compacting its log, and
// starts the goroutine that writes the log; Close stops it.
func Open(dir, bug string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	s := &Store{
		bug:  bug,
		path: filepath.Join(dir, logName),
		data: map[string]string{},
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	if bug == bugMemoryOnly {
		close(s.done)
		return s, nil
	}

	records, torn, err := replay(s.path, s.data)
	if err != nil {
		return nil, err
	}
	if torn {
		log.Printf("log ends in a torn record (a crash mid-write); dropped it after %d good records", records)
	}
	// Compacting on every start keeps the log as small as the data and
	// drops any torn tail, so appends never follow garbage.
	if err := writeSnapshot(s.path, s.data, s.bug); err != nil {
		return nil, err
	}
	log.Printf("replayed %d records into %d keys", records, len(s.data))

	if bug == bugSIGTERMOnly {
		close(s.done)
		return s, nil
	}
	s.file, err = os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	if bug == bugLostOnSIGKILL {
		go s.flushLoop()
	} else {
		go s.commitLoop()
	}
	return s, nil
}

// Close finishes the writes in flight, makes them durable and closes the
// log. Call it once, after the last write has returned.
func (s *Store) Close() error {
	switch {
	case s.bug == bugSIGTERMOnly:
		// The sigterm-only bug: everything reaches the disk here, in the
		// shutdown path, and nowhere else.
		s.mu.RLock()
		defer s.mu.RUnlock()
		return writeSnapshot(s.path, s.data, s.bug)
	case s.file == nil:
		return nil
	}
	s.wmu.Lock()
	s.closing = true
	s.wmu.Unlock()
	s.poke()
	<-s.done
	err := s.file.Close()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.err != nil {
		return s.err
	}
	return err
}

// Get returns the value of key and whether it is present.
func (s *Store) Get(key string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.data[key]
	return v, ok
}

// Len reports the number of keys.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.data)
}

// Put sets key to value once the change is durable.
func (s *Store) Put(key, value string) error { return s.write(op{kind: opPut, key: key, value: value}) }

// Delete removes key, present or not, once the change is durable.
func (s *Store) Delete(key string) error { return s.write(op{kind: opDel, key: key}) }

// Clear removes every key once the change is durable.
func (s *Store) Clear() error { return s.write(op{kind: opClear}) }

func (s *Store) write(o op) error {
	switch {
	case s.file == nil:
		// memory-only and sigterm-only: nothing is logged.
		s.apply(o)
		return nil
	case s.bug == bugLostOnSIGKILL:
		// The lost-on-sigkill bug: the record waits in memory for the
		// next periodic flush, but the write is acknowledged now.
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if err := s.usableLocked(); err != nil {
			return err
		}
		s.unflushed = appendRecord(s.unflushed, o)
		s.apply(o) // under wmu, so the map changes in log order
		return nil
	}

	p := &pending{
		op:      o,
		durable: !(s.bug == bugClearNotDurable && o.kind == opClear),
		done:    make(chan error, 1),
	}
	s.wmu.Lock()
	if err := s.usableLocked(); err != nil {
		s.wmu.Unlock()
		return err
	}
	s.queue = append(s.queue, p)
	s.wmu.Unlock()
	s.poke()
	if err := <-p.done; err != nil {
		return err
	}
	if s.bug == bugRacy {
		s.racyApply(o)
	}
	return nil
}

func (s *Store) usableLocked() error {
	if s.err != nil {
		return s.err
	}
	if s.closing {
		return errClosed
	}
	return nil
}

func (s *Store) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Store) apply(o op) {
	s.mu.Lock()
	defer s.mu.Unlock()
	applyOp(s.data, o)
}

// racyApply is the racy bug: a copy-on-write update whose three steps
// (read the map, change a copy, swap the copy in) are not one critical
// section. Concurrent writers each start from the same map and the last
// swap wins, so the other writers' changes are lost although each was
// acknowledged. The sleep stands for work done between reading and
// writing back, and makes the window wide enough to lose writes every time.
func (s *Store) racyApply(o op) {
	s.mu.RLock()
	cur := s.data
	s.mu.RUnlock()
	next := maps.Clone(cur)
	applyOp(next, o)
	time.Sleep(time.Millisecond)
	s.mu.Lock()
	s.data = next
	s.mu.Unlock()
}

// commitLoop is the group committer: it takes every queued write, appends
// their records with one write and one fsync, applies them to the map in
// order and then answers the writers.
func (s *Store) commitLoop() {
	defer close(s.done)
	var buf []byte
	for range s.wake {
		for {
			s.wmu.Lock()
			batch, closing := s.queue, s.closing
			s.queue = nil
			s.wmu.Unlock()
			if len(batch) == 0 {
				if closing {
					return
				}
				break
			}
			buf = buf[:0]
			for _, p := range batch {
				if p.durable {
					buf = appendRecord(buf, p.op)
				}
			}
			err := s.writeSync(buf)
			if err == nil && s.bug != bugRacy {
				s.mu.Lock()
				for _, p := range batch {
					applyOp(s.data, p.op)
				}
				s.mu.Unlock()
			}
			for _, p := range batch {
				p.done <- err
			}
			if cap(buf) > 16<<20 {
				buf = nil // don't hold on to the memory of one huge batch
			}
		}
	}
}

// flushLoop is the lost-on-sigkill bug's writer: it writes and fsyncs what
// was acknowledged since the last tick once a second, and once more on
// Close, so SIGTERM loses nothing but SIGKILL loses up to a second of
// acknowledged writes.
func (s *Store) flushLoop() {
	defer close(s.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-s.wake:
		}
		s.wmu.Lock()
		b, closing := s.unflushed, s.closing
		s.unflushed = nil
		s.wmu.Unlock()
		if err := s.writeSync(b); err != nil {
			log.Printf("%v", err)
		}
		if closing {
			return
		}
	}
}

// writeSync appends b to the log and fsyncs it. After a failure the log's
// tail is unknown, so the store refuses every later write rather than
// acknowledge writes that replay might drop.
func (s *Store) writeSync(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, err := s.file.Write(b)
	if err == nil && s.bug != bugNoFsync {
		// The no-fsync bug leaves the record in the page cache, which a
		// SIGKILL keeps and a power loss does not.
		err = s.file.Sync()
	}
	if err == nil {
		return nil
	}
	err = fmt.Errorf("write log %s: %w", s.path, err)
	s.wmu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.wmu.Unlock()
	return err
}
