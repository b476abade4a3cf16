package catalog

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
)

// Digest hashes values with SHA-256: it writes each value with its kind and
// length in front, keys sorted, so that no two different values write the same
// bytes (as concatenated JSON can), and any map order writes the same ones. One
// Digest is reused across many sums: the encoding/json version it replaces took
// 1.7 KB and 30 allocations per resource. The zero Digest is ready after Reset.
type Digest struct {
	h    hash.Hash
	buf  []byte
	keys []string
	out  [sha256.Size]byte
}

// Value kinds, written before each value.
const (
	fpNil byte = iota
	fpString
	fpTrue
	fpFalse
	fpNumber
	fpList
	fpMap
	fpSensitive
	fpDefault
	fpTyped
	fpOther
)

// Reset starts a new sum.
func (f *Digest) Reset() {
	if f.h == nil {
		f.h = sha256.New()
	}
	f.h.Reset()
	f.buf = f.buf[:0]
}

// Sum returns the SHA-256 of what was written since Reset; it is valid until the
// next call on f.
func (f *Digest) Sum() []byte {
	f.h.Write(f.buf)
	f.buf = f.buf[:0]
	return f.h.Sum(f.out[:0])
}

// String writes s.
func (f *Digest) String(s string) { f.str(s) }

// Value writes v: a parameter value as package catalog decodes it (strings,
// json.Number, bool, nil, lists, maps, Sensitive, Default, Typed), or as
// encoding/json does with UseNumber.
func (f *Digest) Value(v any) { f.value(v) }

// str writes s with its length.
func (f *Digest) str(s string) {
	f.buf = binary.AppendUvarint(f.buf, uint64(len(s)))
	f.buf = append(f.buf, s...)
	if len(f.buf) > 32<<10 {
		f.h.Write(f.buf)
		f.buf = f.buf[:0]
	}
}

func (f *Digest) value(v any) {
	switch x := v.(type) {
	case nil:
		f.buf = append(f.buf, fpNil)
	case string:
		f.buf = append(f.buf, fpString)
		f.str(x)
	case bool:
		if x {
			f.buf = append(f.buf, fpTrue)
		} else {
			f.buf = append(f.buf, fpFalse)
		}
	case json.Number:
		f.buf = append(f.buf, fpNumber)
		f.str(string(x))
	case []any:
		f.buf = append(f.buf, fpList)
		f.buf = binary.AppendUvarint(f.buf, uint64(len(x)))
		for _, e := range x {
			f.value(e)
		}
	case map[string]any:
		f.buf = append(f.buf, fpMap)
		f.buf = binary.AppendUvarint(f.buf, uint64(len(x)))
		// Sorted keys; nested maps take their own key list, the outer one is
		// reused.
		start := len(f.keys)
		for k := range x {
			f.keys = append(f.keys, k)
		}
		keys := f.keys[start:]
		slices.Sort(keys)
		for _, k := range keys {
			f.str(k)
			f.value(x[k])
		}
		f.keys = f.keys[:start]
	case Sensitive:
		f.buf = append(f.buf, fpSensitive)
		f.value(x.Value)
	case Default:
		f.buf = append(f.buf, fpDefault)
	case Typed:
		f.buf = append(f.buf, fpTyped)
		f.str(x.Type)
		f.value(x.Value)
	default:
		// A value kind this package does not make today: its Go syntax,
		// with its type.
		f.buf = append(f.buf, fpOther)
		f.str(fmt.Sprintf("%#v", x))
	}
}
