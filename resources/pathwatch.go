package resources

import (
	"context"
	"path/filepath"

	"github.com/mgmt-puppet/mgmt-puppet/resources/fswatch"
)

// pathWatch keeps one path registered with the shared watcher from Watch until the
// watch's context ends or the resource is closed.
type pathWatch struct {
	watcher   *fswatch.Watcher // nil means fswatch.Default()
	unwatch   func()
	stopAfter func() bool
}

// watch registers path; every change of it pokes.
func (w *pathWatch) watch(ctx context.Context, path string, poke func()) error {
	fw := w.watcher
	if fw == nil {
		var err error
		if fw, err = fswatch.Default(); err != nil {
			return err
		}
	}
	cancel, err := fw.Add(path, poke)
	if err != nil {
		return err
	}
	w.unwatch = cancel
	w.stopAfter = context.AfterFunc(ctx, cancel)
	return nil
}

// close cancels the watch.
func (w *pathWatch) close() {
	if w.stopAfter != nil {
		w.stopAfter()
	}
	if w.unwatch != nil {
		w.unwatch()
	}
}

// watches keeps several paths watched, for resources whose state lives in more
// than one file (accounts).
type watches struct {
	list []pathWatch
}

// watchAll registers each of files under root; any change pokes.
func (w *watches) watchAll(ctx context.Context, root string, files []string, poke func()) error {
	for _, f := range files {
		var pw pathWatch
		if err := pw.watch(ctx, filepath.Join("/", root, f), poke); err != nil {
			w.closeAll()
			return err
		}
		w.list = append(w.list, pw)
	}
	return nil
}

// closeAll cancels every watch.
func (w *watches) closeAll() {
	for i := range w.list {
		w.list[i].close()
	}
	w.list = nil
}
