package main

import (
	"fmt"
	"io"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
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

// readCatalog reads the catalog at path, printing a parse error in Puppet's style.
func readCatalog(path string, stderr io.Writer) (*catalog.Catalog, error) {
	cat, err := catalog.ReadFile(path)
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
