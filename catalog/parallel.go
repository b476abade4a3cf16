package catalog

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"
)

// A catalog of 100,000 resources is some 30 MB of JSON, most of it in two arrays
// (resources and edges). Their elements are independent, so a large array is cut
// into one run of elements per CPU, found by a scan of its brackets and strings
// that decodes nothing (some 30 times faster than decoding), and the runs are
// decoded at the same time, each by a decoder of its own.

// parallelMin is the size in bytes from which an array is decoded in parallel (a
// variable for the tests, which compare both ways).
var parallelMin = 1 << 20

// parallelArrays counts the arrays decoded in parallel, for the tests.
var parallelArrays atomic.Int64

// parallelElements decodes the array at d.pos in parallel: alloc is told the number
// of elements, then elem decodes element i at its decoder's position. ok is false
// when the array is not worth it or is malformed as far as the scan can tell; then
// nothing was decoded and d has not moved, and the caller decodes the array in
// order, which says where the problem is. Otherwise err is the problem of the first
// element in the array that has one, as decoding in order would find it, and d is
// past the array.
func (d *decoder) parallelElements(alloc func(n int), elem func(d *decoder, i int) error) (ok bool, err error) {
	cpus := runtime.GOMAXPROCS(0)
	if cpus < 2 || d.peek() != '[' || len(d.data)-d.pos < parallelMin {
		return false, nil
	}
	starts, end, ok := scanArray(d.data, d.pos)
	if !ok || len(starts) < 2*cpus {
		return false, nil
	}
	parallelArrays.Add(1)
	alloc(len(starts))
	runs := min(cpus, len(starts))
	errs := make([]error, runs)
	var wg sync.WaitGroup
	for r := range runs {
		from, to := r*len(starts)/runs, (r+1)*len(starts)/runs
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd := &decoder{data: d.data, depth: d.depth + 1, intern: make(map[string]string, 256)}
			for i := from; i < to; i++ {
				rd.pos = starts[i]
				if err := elem(rd, i); err != nil {
					errs[r] = err
					return
				}
				// What follows an element, as decoding in order checks it (the
				// scan found the same, unless the element ended early).
				if c := rd.peek(); c != ',' && c != ']' {
					errs[r] = rd.unexpected("',' or ']'")
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return true, err
		}
	}
	d.pos = end
	return true, nil
}

// scanArray finds where the elements of the array at data[pos] start and the
// offset just past its closing ']', checking brackets, strings and separators
// only. ok is false if it is not a non-empty array of that shape.
func scanArray(data []byte, pos int) (starts []int, end int, ok bool) {
	i := skipWhite(data, pos)
	if i >= len(data) || data[i] != '[' {
		return nil, 0, false
	}
	i = skipWhite(data, i+1)
	starts = make([]int, 0, bytes.Count(data[i:], []byte(`},{`))+1)
	for {
		if i >= len(data) || data[i] == ']' || data[i] == ',' {
			return nil, 0, false // empty array, or an element missing
		}
		starts = append(starts, i)
		if i, ok = skipElement(data, i); !ok {
			return nil, 0, false
		}
		if i = skipWhite(data, i); i >= len(data) {
			return nil, 0, false
		}
		switch data[i] {
		case ',':
			i = skipWhite(data, i+1)
		case ']':
			return starts, i + 1, true
		default:
			return nil, 0, false
		}
	}
}

// skipElement returns the offset just past the value starting at data[i]: a
// string, an object or array with its brackets balanced (not matched: the decoder
// tells a '}' closing a '[' later), or a bare word (number, true, false, null; not
// checked further).
func skipElement(data []byte, i int) (int, bool) {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
	default:
		for i < len(data) && !bytes.ContainsRune([]byte(",]} \t\r\n"), rune(data[i])) {
			i++
		}
		return i, true
	}
	depth := 0
	for i < len(data) {
		switch data[i] {
		case '"':
			var ok bool
			if i, ok = skipString(data, i); !ok {
				return 0, false
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1, true
			}
		}
		i++
	}
	return 0, false
}

// skipString returns the offset just past the string whose quote is data[i].
func skipString(data []byte, i int) (int, bool) {
	i++
	for {
		q := bytes.IndexByte(data[i:], '"')
		if q < 0 {
			return 0, false
		}
		i += q
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for j := i - 1; j >= 0 && data[j] == '\\'; j-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i, true
		}
	}
}

func skipWhite(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}
