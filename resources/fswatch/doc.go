// Package fswatch watches many paths with one inotify instance for the whole process.
// Each path costs a listener on its parent directory's watch, so 100,000 files in a
// thousand directories take a thousand kernel watches; missing parents are followed
// from the nearest existing ancestor down as they appear.
package fswatch
