package integration

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/integration/testbed"
)

// fightWatch is how long TestFightDampedInTestbed watches the fights after the
// first pass.
const fightWatch = 60 * time.Second

// TestFightDampedInTestbed keeps the fight fixture converged in a real Debian with a
// real systemd for a minute (issue 15: arioch-redis's File[/var/run/redis] against
// redis-server.service's RuntimeDirectory). File[/run/fighter] notifies
// Service[fighter], whose every start makes the directory anew as the File does not
// want it: the repairs must back off as one fight, warned of once, not restart
// the unit as fast as systemd allows; and Service[crasher], whose program exits at
// once, must not be started into systemd's start limit again and again (before
// the engine kept failed resources' backoff, a start was tried every 43 ms).
func TestFightDampedInTestbed(t *testing.T) {
	tb := testbed.Start(t)
	bin, catalog := inTestbed(t, tb, "fight")
	daemonLog := startDaemon(t, tb, bin, catalog)
	for start := time.Now(); !strings.Contains(daemonLog(), "Applied catalog"); time.Sleep(100 * time.Millisecond) {
		if time.Since(start) > 90*time.Second {
			t.Fatalf("no first pass within 90 s:\n%s", daemonLog())
		}
	}
	since, _ := tb.Exec(t, "date", "+%Y-%m-%d %H:%M:%S")
	since = strings.TrimSpace(since)
	time.Sleep(fightWatch)
	log := daemonLog()

	journal := func(unit, pattern string) int {
		out, _ := tb.Exec(t, "sh", "-c", "journalctl --no-pager -u "+unit+" --since '"+since+"' | grep -c '"+pattern+"'")
		n, err := strconv.Atoi(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("counting %q in %s's journal: %q", pattern, unit, out)
		}
		return n
	}
	fights := strings.Count(log, "File[/run/fighter]: Repaired")
	starts := journal("fighter", "Started fighter")
	refused := journal("crasher", "Start request repeated too quickly")
	crasherStarts := journal("crasher", "Started crasher")
	t.Logf("in %v after the first pass: fighter started %d times, %d fight warning(s); crasher started %d times, refused by its start limit %d times",
		fightWatch, starts, fights, crasherStarts, refused)
	// Undamped, the fighter is restarted about 9 times every 31 s and the fight
	// warned of anew each time; damped, the waits grow 1, 2, 4... s after the
	// first 5 repairs, so about 11 in a minute, in one fight.
	if fights != 1 {
		t.Errorf("%d fight warnings for File[/run/fighter], want 1 (one fight that goes on)\n%s", fights, tail(log, 40))
	}
	if starts > 14 {
		t.Errorf("fighter started %d times in %v, want at most 14 (damped)", starts, fightWatch)
	}
	if refused > 4 {
		t.Errorf("crasher refused %d times by its start limit in %v, want at most 4\n%s", refused, fightWatch, tail(log, 40))
	}
	if state, _ := tb.Exec(t, "systemctl", "is-active", "fighter"); strings.TrimSpace(state) != "active" {
		t.Errorf("fighter is %s after the fight, want active", strings.TrimSpace(state))
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
