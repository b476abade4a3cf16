// Package pql translates PuppetDB's Puppet Query Language (PQL) into
// PuppetDB's query AST, the JSON form the v4 query API evaluates, exactly
// as PuppetDB 7.12.1 does it.
//
// PuppetDB parses PQL with an Instaparse (GLL) parser generated from
// resources/puppetlabs/puppetdb/pql/pql-grammar.ebnf and rewrites the parse
// tree with src/puppetlabs/puppetdb/pql/transform.clj. This package is a
// hand-written, scannerless recursive-descent parser that follows that
// grammar rule by rule, including its quirks:
//
//   - terminals are matched like Instaparse matches them: string terminals
//     are plain prefixes (so "x = 1limit 2" is a query with a limit) and
//     regular-expression terminals take Java's single, greedy match;
//   - "a or b or c or d" becomes the same oddly nested tree PuppetDB's GLL
//     parser happens to return (see chain);
//   - double-quoted strings are decoded as JSON strings, single-quoted ones
//     only lose the backslash of \', integers are 64-bit, reals are Java
//     doubles (and an overflowing real becomes the string "Infinity");
//   - an implicit subquery with more than one clause is an error, as in
//     PuppetDB, where the transform is called with too many arguments.
//
// Parse does not validate the AST against the entities' fields; PuppetDB
// does that after the translation (and ast_only=true answers include it).
//
// The golden file testdata/golden.json holds real PuppetDB 7.12.1 answers;
// testdata/regen.sh regenerates it against a running PuppetDB.
package pql
