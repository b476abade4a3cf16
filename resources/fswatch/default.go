package fswatch

import "sync"

var (
	defaultOnce sync.Once
	defaultW    *Watcher
	defaultErr  error
)

// Default returns the process-wide watcher, created and started on first use. It lives
// as long as the process: do not Close it.
func Default() (*Watcher, error) {
	defaultOnce.Do(func() {
		defaultW, defaultErr = New()
		if defaultErr == nil {
			defaultW.start()
		}
	})
	return defaultW, defaultErr
}
