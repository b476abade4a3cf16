// Package writers finds out which processes write a file, with fanotify: when a
// managed file is repaired again and again, something else keeps rewriting it, and
// an operator wants to know what. fanotify needs CAP_SYS_ADMIN; without it, Watch
// says so and nobody is named.
package writers
