package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// node is one simulated host: mgmt-puppet run in its own mount namespace, with a
// private tmpfs over the fixture root, so that each node has its own files.
type node struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
}

func startNode(t *testing.T, name, catalog string, args ...string) *node {
	t.Helper()
	if err := os.MkdirAll(placeholder, 0o755); err != nil {
		t.Fatal(err)
	}
	run := append([]string{binary(t), "run", "--color", "false", "--converged-timeout", "-1"}, args...)
	run = append(run, catalog)
	script := "mount -t tmpfs tmpfs " + placeholder + " && exec \"$@\""
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh"}, run...)...)
	n := &node{name: name, cmd: cmd, out: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = n.out, n.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.stop(t) })
	return n
}

func (n *node) stop(t *testing.T) {
	if n.cmd.ProcessState != nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
		t.Errorf("node %s: no exit within 15 s of SIGTERM\n%s", n.name, n.out.String())
	}
}

// path is p as the node sees it, through its mount namespace.
func (n *node) path(p string) string {
	return filepath.Join("/proc", strconv.Itoa(n.cmd.Process.Pid), "root", p)
}

// files lists the regular files under the node's exported folder.
func (n *node) files() []string {
	var out []string
	dir := n.path(placeholder + "/exported")
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestSeedScenario is the seed scenario of exported resources: three nodes, each
// compiled by real Puppet against `mgmt-puppet puppetdb` just before it starts,
// each writing two local files, exporting two, and collecting every exported file.
// Started A, then B, then C, each running in its own mount namespace and collecting
// live from etcd: every node must end with its own two files and all six exported
// ones, without a recompile. The time from C's start until all three are complete
// is logged (the target is under a second).
func TestSeedScenario(t *testing.T) {
	requirePuppet(t)
	requireFile(t, "/usr/lib/ruby/vendor_ruby/puppet/indirector/resource/puppetdb.rb", "puppet-terminus-puppetdb")
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) is missing")
	}
	ssldir := filepath.Join(t.TempDir(), "ssl")
	writePuppetSSL(t, ssldir, "server", "compiler.example")
	etcdURL := "http://" + freeAddr(t)
	addr := puppetDBServerAt(t, ssldir, etcdURL)
	pc := newCompiler(t, ssldir, addr, filepath.Join(moduleRoot(t), "fixtures", "exported", "site.pp"))

	var nodes []*node
	var cStart time.Time
	for _, name := range []string{"a", "b", "c"} {
		cat := filepath.Join(t.TempDir(), name+".json")
		if err := os.WriteFile(cat, pc.compile("node"+name+".example"), 0o644); err != nil {
			t.Fatal(err)
		}
		if name == "c" {
			cStart = time.Now()
		}
		nodes = append(nodes, startNode(t, name, cat, "--etcd-endpoints", etcdURL))
	}
	want := func(name string) string {
		w := []string{"collected/from-a-1", "collected/from-a-2", "collected/from-b-1", "collected/from-b-2",
			"collected/from-c-1", "collected/from-c-2", "local-" + name + "-1", "local-" + name + "-2"}
		return strings.Join(w, " ")
	}
	complete := func() bool {
		for _, n := range nodes {
			if strings.Join(n.files(), " ") != want(n.name) {
				return false
			}
		}
		return true
	}
	deadline := cStart.Add(60 * time.Second)
	for !complete() {
		if time.Now().After(deadline) {
			for _, n := range nodes {
				t.Errorf("node %s has %v\nwant %s\n%s", n.name, n.files(), want(n.name), n.out.String())
			}
			t.FailNow()
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("all three nodes complete %v after C started", time.Since(cStart).Round(time.Millisecond))
	// A was compiled before B and C exported anything: it collected theirs live, in
	// the collector's scope, as a recompile would have put them.
	line := "Notice: /Stage[main]/Main/Node[nodea.example]/Seed[a]/File[" + placeholder + "/exported/collected/from-c-1]/ensure: defined content as"
	waitOut := time.Now().Add(5 * time.Second)
	for !strings.Contains(nodes[0].out.String(), line) && time.Now().Before(waitOut) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(nodes[0].out.String(), line) {
		t.Errorf("node a did not log %q:\n%s", line, nodes[0].out.String())
	}
	data, err := os.ReadFile(nodes[0].path(placeholder + "/exported/collected/from-c-1"))
	if err != nil || string(data) != "exported by node c\n" {
		t.Errorf("node a's copy of c's export: %q, %v", data, err)
	}
}
