package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// ReadFile parses the catalog in the file at path; "-" reads standard input.
func ReadFile(path string) (*Catalog, error) {
	var (
		data []byte
		err  error
	)
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	c, err := parse(data)
	if err != nil && path != "-" {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, err
}

// Parse reads one catalog as `puppet catalog find --render-as rich_data_json` (or json)
// prints it. Anything before the first '{' is skipped (Puppet may print a Notice line
// first); only whitespace may follow the JSON document.
//
// Rich data values are decoded (see Resource.Parameters) and Deferred values are
// resolved for a small set of pure functions. Problems found in resources are
// collected and returned together as a *ValidationError.
func Parse(r io.Reader) (*Catalog, error) {
	data, err := readAll(r)
	if err != nil {
		return nil, err
	}
	return parse(data)
}

// ParseBytes is Parse of a catalog read already; nothing it returns refers to
// data.
func ParseBytes(data []byte) (*Catalog, error) {
	return parse(data)
}

// readAll reads r whole, in one allocation when r says its length.
func readAll(r io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	if l, ok := r.(interface{ Len() int }); ok {
		buf.Grow(l.Len() + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	return buf.Bytes(), nil
}

// jsonCatalog is the wire form of a catalog, formats 1 and 2, optionally wrapped in
// the older {"document_type":"Catalog","data":{...}} envelope.
type jsonCatalog struct {
	DocumentType  string
	dataAt        int // offset of the wrapped "data" object, 0 if none
	Tags          []string
	Name          string
	Version       scalar
	CodeID        scalar
	CatalogUUID   string
	CatalogFormat *int
	Environment   string
	Resources     []Resource
	untitled      []int // indexes of resources without a title
	Edges         []jsonEdge
	Classes       []string
}

type jsonEdge struct {
	Source string
	Target string
}

// scalar is a JSON string or number read as a string; null leaves it unset.
type scalar struct {
	S   string
	Set bool
}

func parse(data []byte) (*Catalog, error) {
	start := bytes.IndexByte(data, '{')
	if start < 0 {
		return nil, errors.New("catalog: no JSON object found in input")
	}
	var jc jsonCatalog
	if err := decodeCatalog(data, start, &jc); err != nil {
		return nil, err
	}
	if jc.DocumentType != "" || jc.dataAt != 0 {
		if jc.DocumentType != "Catalog" {
			return nil, fmt.Errorf("catalog: document_type %q, want \"Catalog\"", jc.DocumentType)
		}
		if jc.dataAt == 0 {
			return nil, errors.New("catalog: document has no \"data\" object")
		}
		at := jc.dataAt
		jc = jsonCatalog{}
		if err := decodeInner(data, at, &jc); err != nil {
			return nil, err
		}
	}
	return build(&jc)
}

// position renders byte offset off of data as "byte N (line L, column C)", lines and
// columns counted from 1, columns in bytes.
func position(data []byte, off int) string {
	if off > len(data) {
		off = len(data)
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("byte %d (line %d, column %d)", off, line, col)
}

// build converts the wire form into a Catalog, decoding rich data and resolving
// Deferred values, and collects every problem it finds.
func build(jc *jsonCatalog) (*Catalog, error) {
	c := &Catalog{
		Name:          jc.Name,
		Version:       jc.Version.S,
		CodeID:        jc.CodeID.S,
		CatalogUUID:   jc.CatalogUUID,
		CatalogFormat: 1,
		Environment:   jc.Environment,
		Tags:          jc.Tags,
		Classes:       jc.Classes,
		Resources:     jc.Resources,
		Edges:         make([]Edge, len(jc.Edges)),
	}
	if jc.CatalogFormat != nil {
		c.CatalogFormat = *jc.CatalogFormat
	}
	var problems []string
	if c.CatalogFormat != 1 && c.CatalogFormat != 2 {
		problems = append(problems, fmt.Sprintf("catalog_format %d is not supported (want 1 or 2)", c.CatalogFormat))
	}
	conv := converter{}
	untitled := make(map[int]bool, len(jc.untitled))
	for _, i := range jc.untitled {
		untitled[i] = true
	}
	for i := range c.Resources {
		r := &c.Resources[i]
		named := true
		if r.Type == "" {
			problems = append(problems, fmt.Sprintf("resource %d (title %q): missing type", i, r.Title))
			named = false
		}
		if untitled[i] {
			problems = append(problems, fmt.Sprintf("resource %d (type %q): missing title", i, r.Type))
			named = false
		}
		conv.resource(r, i, named)
	}
	problems = append(problems, conv.problems...)
	for i, e := range jc.Edges {
		if e.Source == "" || e.Target == "" {
			problems = append(problems, fmt.Sprintf("edge %d: missing source or target", i))
		}
		c.Edges[i] = Edge(e)
	}
	if len(problems) > 0 {
		return nil, newValidationError(problems)
	}
	return c, nil
}

// ValidationError lists every problem found in a catalog, sorted.
type ValidationError struct {
	Problems []string
}

func newValidationError(problems []string) *ValidationError {
	sort.Strings(problems)
	out := problems[:0]
	for i, p := range problems {
		if i == 0 || p != problems[i-1] {
			out = append(out, p)
		}
	}
	return &ValidationError{Problems: out}
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid catalog: " + e.Problems[0]
	}
	return "invalid catalog: " + strconv.Itoa(len(e.Problems)) + " problems:\n  " + strings.Join(e.Problems, "\n  ")
}
