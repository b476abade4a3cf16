// Package atomicfile replaces files so that readers, and a crash at any moment, see
// the old file or the new one, never a part, and nothing is left behind: the new
// content is written to an unnamed file (O_TMPFILE) in the target's directory, made
// durable, and only then given a name and renamed over the target. Writes go through
// the directory opened once, so a directory swapped for a symlink meanwhile is not
// written through.
package atomicfile
