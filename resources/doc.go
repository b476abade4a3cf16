// Package resources holds the native resource types, one per file, each implementing
// engine.Resource: it reads the real state on every CheckApply, repairs what differs
// and tells each property change through the engine's handle. Watches share one
// process-wide inotify instance (package fswatch).
package resources
