package translate

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"slices"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
)

// fingerprinter digests a resource's type, title and parameters into a vertex
// Fingerprint: two resources have the same one when, and only when (up to
// SHA-256), they ask for the same state. It writes each value with its kind and
// length in front, keys sorted, so that no two different values write the same
// bytes. One fingerprinter is reused for a whole catalog: the encoding/json
// version it replaces took 1.7 KB and 30 allocations per resource.
type fingerprinter struct {
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

func (f *fingerprinter) sum(r *catalog.Resource) string {
	if f.h == nil {
		f.h = sha256.New()
	}
	f.h.Reset()
	f.buf = f.buf[:0]
	f.str(r.Type)
	f.str(r.Title)
	f.value(r.Parameters)
	f.h.Write(f.buf)
	return string(f.h.Sum(f.out[:0])[:16])
}

// str writes s with its length.
func (f *fingerprinter) str(s string) {
	f.buf = binary.AppendUvarint(f.buf, uint64(len(s)))
	f.buf = append(f.buf, s...)
	if len(f.buf) > 32<<10 {
		f.h.Write(f.buf)
		f.buf = f.buf[:0]
	}
}

func (f *fingerprinter) value(v any) {
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
	case catalog.Sensitive:
		f.buf = append(f.buf, fpSensitive)
		f.value(x.Value)
	case catalog.Default:
		f.buf = append(f.buf, fpDefault)
	case catalog.Typed:
		f.buf = append(f.buf, fpTyped)
		f.str(x.Type)
		f.value(x.Value)
	default:
		// A value kind the catalog package does not make today: its Go syntax,
		// with its type.
		f.buf = append(f.buf, fpOther)
		f.str(fmt.Sprintf("%#v", x))
	}
}
