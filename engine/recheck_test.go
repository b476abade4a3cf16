package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// inOrder is dir->U1->file->U2 evaluated one after another.
var inOrder = []string{"start dir", "end dir", "start U1", "end U1", "start file", "end file", "start U2", "end U2"}

// after returns the evaluations recorded after the line mark.
func (r *recorder) after(mark string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events[slices.Index(r.events, mark)+1:] {
		if strings.HasPrefix(e, "start ") || strings.HasPrefix(e, "end ") {
			out = append(out, e)
		}
	}
	return out
}

// fights lists the resources the engine found in a fight.
func fights(rec *recorder) []string {
	var out []string
	for _, e := range rec.kinds(EventLog) {
		if strings.Contains(e.Message, "something else keeps changing it") {
			out = append(out, e.Vertex.Name)
		}
	}
	return out
}

// execBehind runs dir->exec continuously, exec an Exec with no condition that
// takes sleep, with fight damping after three repairs in a minute.
func execBehind(t *testing.T, sleep time.Duration) (*recorder, *fake, always, func() Result) {
	t.Helper()
	rec := &recorder{}
	g := NewGraph()
	dir := &fake{name: "dir", rec: rec}
	exec := always{&fake{name: "exec", rec: rec, sleep: sleep}}
	for _, v := range []*Vertex{{Name: "dir", Resource: dir}, {Name: "exec", Resource: exec}} {
		if err := g.AddVertex(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.AddEdge("dir", "exec", false); err != nil {
		t.Fatal(err)
	}
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1, FightRepairs: 3, FightWindow: time.Minute,
		FightMin: time.Millisecond, FightMax: time.Millisecond}, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	return rec, dir, exec, stop
}

// fileFight makes file, in dir->U1->file->U2, fight-damped: something else
// rewrites it twice, which FightRepairs 2 calls a fight.
func fileFight(t *testing.T, rec *recorder, fakes map[string]*fake) {
	t.Helper()
	for i := int32(2); i <= 3; i++ {
		fakes["file"].inSync.Store(false)
		fakes["file"].h.Poke()
		eventually(t, "file repaired", func() bool { return fakes["file"].checks.Load() == i && fakes["U2"].checks.Load() == i })
	}
	eventually(t, "the fight seen", func() bool { return slices.Contains(fights(rec), "file") })
}

// A watched resource between two Unwatched that is fight-damped is still looked
// at in its turn by a recheck, which is no repair: U2 waits for U1 through it.
func TestRecheckPassesDampedPathNode(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"dir", "U1", "file", "U2"}, "dir->U1", "U1->file", "file->U2")
	fakes["U1"].sleep = 50 * time.Millisecond
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1, Parallelism: 4,
		FightRepairs: 2, FightWindow: time.Minute, FightMin: 2 * time.Second, FightMax: 2 * time.Second}, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	fileFight(t, rec, fakes)
	rec.log("drift")
	fakes["dir"].inSync.Store(false)
	fakes["dir"].h.Poke()
	eventually(t, "U2 looked at again", func() bool { return fakes["U2"].checks.Load() == 4 })
	stop()
	if events, want := rec.after("drift"), inOrder; !slices.Equal(events, want) {
		t.Errorf("after the drift: %q, want %q", events, want)
	}
}

// A recheck is not delayed into a poke of its own later: U1, behind the repaired
// dir, is looked at once.
func TestRecheckDampedPathNodeOnce(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"dir", "U1", "file", "U2"}, "dir->U1", "U1->file", "file->U2")
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1, Parallelism: 4,
		FightRepairs: 2, FightWindow: time.Minute, FightMin: 300 * time.Millisecond, FightMax: 300 * time.Millisecond}, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	fileFight(t, rec, fakes)
	u1 := fakes["U1"].checks.Load()
	fakes["dir"].inSync.Store(false)
	fakes["dir"].h.Poke()
	eventually(t, "U1 looked at again", func() bool { return fakes["U1"].checks.Load() == u1+1 })
	time.Sleep(700 * time.Millisecond) // past the damping of file
	stop()
	if got := fakes["U1"].checks.Load(); got != u1+1 {
		t.Errorf("U1 looked at %d times after one repair of dir, want 1", got-u1)
	}
}

// A recheck that comes while the Exec runs has it run again after, and that run
// is a recheck too, not a repair that fight damping counts.
func TestRecheckWhileRunningIsNoRepair(t *testing.T) {
	rec, dir, exec, stop := execBehind(t, 100*time.Millisecond)
	for i := 0; i < 4; i++ {
		n := exec.checks.Load()
		dir.inSync.Store(false)
		dir.h.Poke()
		eventually(t, "exec running", func() bool { return exec.checks.Load() == n+1 })
		dir.inSync.Store(false) // repaired again while the Exec runs
		dir.h.Poke()
		eventually(t, fmt.Sprintf("exec run twice (%d)", i), func() bool { return exec.checks.Load() == n+2 })
		time.Sleep(150 * time.Millisecond)
	}
	stop()
	if fights := fights(rec); slices.Contains(fights, "exec") {
		t.Errorf("fights announced for %q: the Exec's reruns counted as repairs", fights)
	}
}

// An Unwatched resource behind another through a watched one waits for it: in
// dir->U1->file->U2, U2 comes after U1 as in a Puppet run, however many
// resources run at once.
func TestRecheckKeepsOrderThroughWatched(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"dir", "U1", "file", "U2"}, "dir->U1", "U1->file", "file->U2")
	fakes["U1"].sleep = 20 * time.Millisecond
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1, Parallelism: 4}, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	rec.log("drift")
	fakes["dir"].inSync.Store(false)
	fakes["dir"].h.Poke()
	eventually(t, "U2 looked at again", func() bool { return fakes["U2"].checks.Load() == 2 })
	stop()
	if events, want := rec.after("drift"), inOrder; !slices.Equal(events, want) {
		t.Errorf("after the drift: %q, want %q", events, want)
	}
}

// always is an Unwatched fake that changes something at every evaluation: an
// Exec with no condition (that takes sleep).
type always struct{ *fake }

func (always) Unwatched() {}

func (a always) CheckApply(ctx context.Context, apply bool) (bool, error) {
	a.checks.Add(1)
	time.Sleep(a.sleep)
	a.h.Change(Change{Property: "returns", Previous: "notrun", Desired: "0", Message: "executed successfully"})
	return false, nil
}

// An Exec that runs at every look, behind a resource repaired again and again,
// runs after each repair, as in each Puppet run; that is not a fight of its
// own. The repaired resource's fight is.
func TestRecheckIsNoRepair(t *testing.T) {
	rec, dir, exec, stop := execBehind(t, 0)
	for i := int32(2); i <= 5; i++ {
		dir.inSync.Store(false)
		dir.h.Poke()
		eventually(t, fmt.Sprintf("exec run %d times", i), func() bool { return exec.checks.Load() == i })
	}
	stop()
	if fights := fights(rec); !slices.Equal(fights, []string{"dir"}) {
		t.Errorf("fights announced for %q, want only dir's", fights)
	}
}

// A repair that fails, and at its retry finds the resource in sync (the failing
// command had done its work), has the Unwatched behind it looked at again too: in
// a Puppet run after the failure, they would be evaluated.
func TestRecheckAfterFailedRepair(t *testing.T) {
	rec := &recorder{}
	g, fakes := build(t, rec, []string{"pkg", "Uexec"}, "pkg->Uexec")
	_, stop := continuous(t, Config{Observer: rec, ConvergedTimeout: -1, RetryMin: 10 * time.Millisecond}, g)
	eventually(t, "first pass", func() bool { return len(rec.kinds(EventPassDone)) == 1 })
	fakes["pkg"].fail.Store(1)
	fakes["pkg"].h.Poke()
	eventually(t, "pkg failed and retried", func() bool { return fakes["pkg"].checks.Load() == 3 })
	eventually(t, "Uexec looked at again", func() bool { return fakes["Uexec"].checks.Load() == 2 })
	stop()
}
