package inventory

import (
	"bufio"
	"container/heap"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// sortChunk is how many records a manifest's sort holds in memory; more
// are sorted a chunk at a time into spill files and merged. It keeps a
// load's memory flat whatever the manifest's size (about 30 MiB).
var sortChunk = 50_000

// sorter sorts records that may not fit in memory: an external merge sort.
type sorter struct {
	dir   string
	limit int
	less  func(a, b *record) int
	buf   []record
	runs  []string // spill files, each sorted
}

func (s *sorter) add(r record) error {
	s.buf = append(s.buf, r)
	if len(s.buf) >= s.limit {
		return s.spill()
	}
	return nil
}

// spill writes the buffer, sorted, to a file of its own.
func (s *sorter) spill() error {
	f, err := os.CreateTemp(s.dir, "run-*")
	if err != nil {
		return fmt.Errorf("manifest sort: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := gob.NewEncoder(w)
	for _, r := range s.sorted() {
		if err = enc.Encode(r); err != nil {
			break
		}
	}
	if err = errors.Join(err, w.Flush(), f.Close()); err != nil {
		return fmt.Errorf("manifest sort: %w", err)
	}
	s.runs = append(s.runs, f.Name())
	s.buf = s.buf[:0]
	return nil
}

// sorted is the buffer in order, as pointers into it: sorting pointers
// moves 8 bytes where a record is some 200.
func (s *sorter) sorted() []*record {
	ps := make([]*record, len(s.buf))
	for i := range s.buf {
		ps[i] = &s.buf[i]
	}
	slices.SortFunc(ps, s.less)
	return ps
}

// each calls fn for every record added, in order.
func (s *sorter) each(fn func(record) error) error {
	if len(s.runs) == 0 {
		for _, r := range s.sorted() {
			if err := fn(*r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(s.buf) > 0 {
		if err := s.spill(); err != nil {
			return err
		}
	}
	s.buf = nil
	h := &runHeap{less: s.less}
	defer h.close()
	for _, name := range s.runs {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("manifest sort: %w", err)
		}
		r := &run{f: f, dec: gob.NewDecoder(bufio.NewReaderSize(f, 256<<10))}
		h.open = append(h.open, r)
		ok, err := r.next()
		if err != nil {
			return err
		}
		if ok {
			h.runs = append(h.runs, r)
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		r := h.runs[0]
		if err := fn(r.cur); err != nil {
			return err
		}
		ok, err := r.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return nil
}

// run is one spill file being merged.
type run struct {
	f   *os.File
	dec *gob.Decoder
	cur record
}

func (r *run) next() (bool, error) {
	r.cur = record{}
	err := r.dec.Decode(&r.cur)
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("manifest sort: read %s: %w", r.f.Name(), err)
	}
	return true, nil
}

// runHeap orders the runs by their current record.
type runHeap struct {
	runs []*run
	open []*run
	less func(a, b *record) int
}

func (h *runHeap) Len() int           { return len(h.runs) }
func (h *runHeap) Less(i, j int) bool { return h.less(&h.runs[i].cur, &h.runs[j].cur) < 0 }
func (h *runHeap) Swap(i, j int)      { h.runs[i], h.runs[j] = h.runs[j], h.runs[i] }
func (h *runHeap) Push(x any)         { h.runs = append(h.runs, x.(*run)) }
func (h *runHeap) Pop() any {
	r := h.runs[len(h.runs)-1]
	h.runs = h.runs[:len(h.runs)-1]
	return r
}

func (h *runHeap) close() {
	for _, r := range h.open {
		r.f.Close()
	}
}
