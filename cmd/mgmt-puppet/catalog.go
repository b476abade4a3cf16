package main

import (
	"fmt"
	"io"
	"os"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/internal/hugeheap"
	"github.com/mgmt-puppet/mgmt-puppet/translate"
)

// load reads and translates the catalog at path ("-" for stdin). Problems are printed
// to stderr in Puppet's style; the result is returned even then (for display) along
// with an error.
func load(path string, opts translate.Options, stdout, stderr io.Writer) (*catalog.Catalog, *translate.Result, error) {
	cat, err := readCatalog(path, stderr)
	if err != nil {
		return nil, nil, err
	}
	res, err := translateCatalog(cat, path, opts, stdout, stderr)
	return cat, res, err
}

// heapPerByte is about how much heap reading, translating and running a catalog
// fills, per byte of its JSON: a 29.5 MB catalog of 100,000 files peaked at
// some 215 MB.
const heapPerByte = 8

// readCatalog reads the catalog at path ("-" for stdin), printing a parse error
// in Puppet's style. Before a large catalog is decoded, the heap it will fill is
// prepared for huge pages (hugeheap): a no-op of 100,000 files took 1.26-1.50 s
// with, 1.72-1.79 s without (58,000 page faults, 3,000 with); of 10,000 files,
// 0.18-0.20 s against 0.20-0.22 s. A catalog piped in is prepared for only once
// it is read.
func readCatalog(path string, stderr io.Writer) (*catalog.Catalog, error) {
	var cat *catalog.Catalog
	var err error
	if path == "-" {
		// A file's size is known before it is read; a pipe's once it is.
		st, statErr := os.Stdin.Stat()
		regular := statErr == nil && st.Mode().IsRegular()
		if regular {
			hugeheap.Prepare(heapPerByte * st.Size())
		}
		var data []byte
		if data, err = io.ReadAll(os.Stdin); err != nil {
			err = fmt.Errorf("read catalog: %w", err)
		} else {
			if !regular {
				hugeheap.Prepare(heapPerByte * int64(len(data)))
			}
			cat, err = catalog.ParseBytes(data)
		}
	} else {
		if st, statErr := os.Stat(path); statErr == nil {
			hugeheap.Prepare(heapPerByte * st.Size())
		}
		cat, err = catalog.ReadFile(path)
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: Could not parse catalog %s: %v\n", path, err)
		return nil, exitError{1}
	}
	return cat, nil
}

// translateCatalog translates cat (read from path), printing its warnings and
// problems in Puppet's style.
func translateCatalog(cat *catalog.Catalog, path string, opts translate.Options, stdout, stderr io.Writer) (*translate.Result, error) {
	res, err := translate.Translate(cat, opts)
	for _, w := range res.Warnings {
		fmt.Fprintf(stdout, "Warning: %s\n", w)
	}
	if err != nil {
		if problems, ok := err.(translate.Problems); ok {
			for _, p := range problems {
				fmt.Fprintf(stderr, "Error: %s\n", p)
			}
			fmt.Fprintf(stderr, "Error: Could not run: catalog %s has %d problems; nothing was applied\n", path, len(problems))
		} else {
			fmt.Fprintf(stderr, "Error: Could not run: %v\n", err)
		}
		return res, exitError{1}
	}
	return res, nil
}
