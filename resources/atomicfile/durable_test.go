package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every caller returns only after a flush that started after it called, and
// callers that arrive together share flushes.
func TestGroupSync(t *testing.T) {
	g := newGroup()
	var flushes atomic.Int32
	var started sync.Map // caller -> time it called
	var lastStart atomic.Int64
	var covered atomic.Int32
	flush := func(n int) error {
		lastStart.Store(time.Now().UnixNano())
		flushes.Add(1)
		covered.Add(int32(n))
		time.Sleep(2 * time.Millisecond)
		return nil
	}
	var wg sync.WaitGroup
	const callers = 200
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			called := time.Now().UnixNano()
			started.Store(i, called)
			if err := g.sync(flush); err != nil {
				t.Error(err)
			}
			// The flush that covered this caller started after it called: the
			// last flush to start before this return did.
			if s := lastStart.Load(); s < called {
				t.Errorf("caller %d returned with no flush started after its call", i)
			}
		}()
		if i%10 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	if n := flushes.Load(); n >= callers || n == 0 {
		t.Errorf("%d flushes for %d callers arriving together, want them shared", n, callers)
	}
	if n := covered.Load(); n != callers {
		t.Errorf("the flushes were told of %d writers, want %d", n, callers)
	}
	t.Logf("%d flushes for %d callers", flushes.Load(), callers)
}

func TestGroupSyncError(t *testing.T) {
	g := newGroup()
	boom := errors.New("EIO")
	if err := g.sync(func(int) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("error %v, want the flush's", err)
	}
	if err := g.sync(func(n int) error {
		if n != 1 {
			t.Errorf("a lone writer's batch holds %d", n)
		}
		return nil
	}); err != nil {
		t.Fatalf("the next flush: %v", err)
	}
}

// BenchmarkWrite writes 1000 small files, 16 at a time, as a first apply does: each
// fsynced on its own, or group-committed with syncfs.
func BenchmarkWrite(b *testing.B) {
	for _, m := range []struct {
		name  string
		f     Flush
		named bool // the fallback without O_TMPFILE
	}{{"fsync", FlushFsync, false}, {"group", FlushGroup, false}, {"fsync/named", FlushFsync, true}, {"group/named", FlushGroup, true}} {
		b.Run("flush="+m.name, func(b *testing.B) {
			SetFlush(m.f)
			noTmpfile = m.named
			defer func() { SetFlush(FlushGroup); noTmpfile = false }()
			for range b.N {
				dir := b.TempDir()
				work := make(chan int)
				var wg sync.WaitGroup
				for range 16 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range work {
							p := filepath.Join(dir, "f-"+strconv.Itoa(i))
							if err := Write(p, fmt.Sprintf("file %d\n", i), Options{Mode: 0o644, UID: -1, GID: -1}); err != nil {
								b.Error(err)
							}
						}
					}()
				}
				for i := range 1000 {
					work <- i
				}
				close(work)
				wg.Wait()
				b.StopTimer()
				os.RemoveAll(dir)
				b.StartTimer()
			}
		})
	}
}
