package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// fileFight makes file, in dir->U1->file->U2, fight-damped: something else
// rewrites it twice, which FightRepairs 2 calls a fight.
func fileFight(t *testing.T, rec *recorder, fakes map[string]*fake) {
	t.Helper()
	for i := int32(2); i <= 3; i++ {
		fakes["file"].inSync.Store(false)
		fakes["file"].h.Poke()
		eventually(t, "file repaired", func() bool { return fakes["file"].checks.Load() == i && fakes["U2"].checks.Load() == i })
	}
	eventually(t, "the fight seen", func() bool {
		for _, e := range rec.kinds(EventLog) {
			if e.Vertex.Name == "file" && strings.Contains(e.Message, "something else keeps changing it") {
				return true
			}
		}
		return false
	})
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
	rec.mu.Lock()
	events := slices.Clone(rec.events[slices.Index(rec.events, "drift")+1:])
	rec.mu.Unlock()
	want := []string{"start dir", "end dir", "start U1", "end U1", "start file", "end file", "start U2", "end U2"}
	if !slices.Equal(events, want) {
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

// slowAlways is an Exec with no condition that takes a while.
type slowAlways struct{ *fake }

func (slowAlways) Unwatched() {}

func (a slowAlways) CheckApply(ctx context.Context, apply bool) (bool, error) {
	a.checks.Add(1)
	time.Sleep(a.sleep)
	a.h.Change(Change{Property: "returns", Previous: "notrun", Desired: "0", Message: "executed successfully"})
	return false, nil
}

// A recheck that comes while the Exec runs has it run again after, and that run
// is a recheck too, not a repair that fight damping counts.
func TestRecheckWhileRunningIsNoRepair(t *testing.T) {
	rec := &recorder{}
	g := NewGraph()
	dir := &fake{name: "dir", rec: rec}
	exec := slowAlways{&fake{name: "exec", rec: rec, sleep: 100 * time.Millisecond}}
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
	for _, e := range rec.kinds(EventLog) {
		if e.Vertex.Name == "exec" && strings.Contains(e.Message, "something else keeps changing it") {
			t.Errorf("the Exec's reruns counted as repairs: %s", e.Message)
		}
	}
}
