package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// seed is the running seed scenario: three nodes, the server, the compiler.
type seed struct {
	nodes  []*node
	server *pdbServer
	pc     *compiler
	cStart time.Time
}

// startSeed compiles and starts the three nodes of fixtures/exported, A, then B,
// then C, each compiled by real Puppet against `mgmt-puppet puppetdb` just before
// it starts, each running in its own mount namespace and collecting live from the
// server's etcd; extra flags go to every node.
func startSeed(t *testing.T, extra ...string) *seed {
	t.Helper()
	requirePuppet(t)
	requireFile(t, "/usr/lib/ruby/vendor_ruby/puppet/indirector/resource/puppetdb.rb", "puppet-terminus-puppetdb")
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Fatal("unshare (util-linux) is missing")
	}
	ssldir := filepath.Join(t.TempDir(), "ssl")
	writePuppetSSL(t, ssldir, "server", "compiler.example")
	etcdURL := "http://" + freeAddr(t)
	s := &seed{server: startPuppetDB(t, ssldir, etcdURL)}
	s.pc = newCompiler(t, ssldir, s.server.addr, filepath.Join(moduleRoot(t), "fixtures", "exported", "site.pp"))
	s.startNodes(t, etcdURL, nil, extra...)
	return s
}

// startNodes compiles A, B and C with s.pc, each just before it starts collecting
// live from etcdURL; compiled, when not nil, is called after each compile.
func (s *seed) startNodes(t *testing.T, etcdURL string, compiled func(node string, catalog []byte), extra ...string) {
	t.Helper()
	for _, name := range []string{"a", "b", "c"} {
		cat := filepath.Join(t.TempDir(), name+".json")
		data := s.pc.compile("node" + name + ".example")
		if err := os.WriteFile(cat, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if compiled != nil {
			compiled("node"+name+".example", data)
		}
		if name == "c" {
			s.cStart = time.Now()
		}
		s.nodes = append(s.nodes, startNode(t, name, cat, append([]string{"--etcd-endpoints", etcdURL}, extra...)...))
	}
}

// seedFiles is what node name's folder holds when complete, without the exports
// of the nodes in gone.
func seedFiles(name string, gone ...string) string {
	var w []string
	for _, from := range []string{"a", "b", "c"} {
		if !slices.Contains(gone, from) {
			w = append(w, "collected/from-"+from+"-1", "collected/from-"+from+"-2")
		}
	}
	return strings.Join(append(w, "local-"+name+"-1", "local-"+name+"-2"), " ")
}

// waitFiles waits until every node's folder is as want says, or fails after limit.
func (s *seed) waitFiles(t *testing.T, limit time.Duration, want func(name string) string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		done := true
		for _, n := range s.nodes {
			if n.cmd.ProcessState == nil && strings.Join(n.files(), " ") != want(n.name) {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			for _, n := range s.nodes {
				t.Errorf("node %s has %v\nwant %s\n%s", n.name, n.files(), want(n.name), n.out.String())
			}
			t.FailNow()
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitRepaired removes path on node n and waits until n has put it back.
func waitRepaired(t *testing.T, n *node, path string, limit time.Duration) time.Duration {
	t.Helper()
	p := n.path(placeholder + "/exported/" + path)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		if _, err := os.Stat(p); err == nil {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("node %s did not repair %s within %v\n%s", n.name, path, limit, n.out.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSeedScenario is the seed scenario of exported resources: each node writes
// two local files, exports two, and collects every exported file. Every node must
// end with its own two files and all six exported ones without a recompile; A was
// compiled before B and C exported anything. The time from C's start until all
// three are complete is logged (the target is under a second).
func TestSeedScenario(t *testing.T) {
	s := startSeed(t)
	s.waitFiles(t, 60*time.Second, func(name string) string { return seedFiles(name) })
	t.Logf("all three nodes complete %v after C started", time.Since(s.cStart).Round(time.Millisecond))
	a := s.nodes[0]
	data, err := os.ReadFile(a.path(placeholder + "/exported/collected/from-c-1"))
	if err != nil || string(data) != "exported by node c\n" {
		t.Errorf("node a's copy of c's export: %q, %v", data, err)
	}
	// A collected B's and C's exports live, in the collector's scope, where a
	// recompile would have put them.
	line := "Notice: /Stage[main]/Main/Node[nodea.example]/Seed[a]/File[" + placeholder + "/exported/collected/from-c-1]/ensure: defined content as"
	waitOut := time.Now().Add(5 * time.Second)
	for !strings.Contains(a.out.String(), line) && time.Now().Before(waitOut) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(a.out.String(), line) {
		t.Errorf("node a did not log %q:\n%s", line, a.out.String())
	}
}

// TestCollectFaults runs the seed scenario through faults. The etcd member dies:
// the nodes keep enforcing what they have, collected resources included. It comes
// back on its data: nothing is lost, and the nodes follow etcd again. Node C stops
// and is deactivated with `puppet node deactivate`: A and B stop managing C's
// exports (the files stay, as after a recompile) and keep everything else.
func TestCollectFaults(t *testing.T) {
	s := startSeed(t, "-v")
	s.waitFiles(t, 60*time.Second, func(name string) string { return seedFiles(name) })
	a, b, c := s.nodes[0], s.nodes[1], s.nodes[2]

	s.server.kill()
	t.Logf("etcd down: a local file repaired in %v, a collected one in %v",
		waitRepaired(t, a, "local-a-1", 10*time.Second), waitRepaired(t, a, "collected/from-b-1", 10*time.Second))

	s.server.start()
	// Nothing was lost: a fresh compile of B still collects every export.
	if got := strings.Join(files(t, s.pc.compile("nodeb.example")), " "); !strings.Contains(got, "collected/from-c-2") ||
		!strings.Contains(got, "collected/from-a-1") {
		t.Errorf("after etcd's restart, nodeb's catalog has %s", got)
	}

	swaps := map[*node]int{a: strings.Count(a.out.String(), "Collected resources changed"),
		b: strings.Count(b.out.String(), "Collected resources changed")}
	c.stop(t)
	deactivate := exec.Command("puppet", "node", "deactivate", "nodec.example", "--confdir", filepath.Join(s.pc.dir, "conf"),
		"--vardir", filepath.Join(s.pc.dir, "var"), "--ssldir", filepath.Join(s.pc.dir, "ssl"), "--certname", "compiler.example",
		"--certificate_revocation=false", "--color", "false")
	start := time.Now()
	if out, err := deactivate.CombinedOutput(); err != nil {
		t.Fatalf("puppet node deactivate: %v\n%s", err, out)
	}
	for _, n := range []*node{a, b} {
		for strings.Count(n.out.String(), "Collected resources changed") <= swaps[n] {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("node %s did not drop C's exports within 30 s\n%s", n.name, n.out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("C's deactivation reached A and B in %v (puppet node deactivate included)", time.Since(start).Round(time.Millisecond))
	// C's exports are no longer managed: removed on A, they stay removed; B's
	// still are.
	if err := os.Remove(a.path(placeholder + "/exported/collected/from-c-1")); err != nil {
		t.Fatal(err)
	}
	waitRepaired(t, a, "collected/from-b-2", 10*time.Second)
	if _, err := os.Stat(a.path(placeholder + "/exported/collected/from-c-1")); err == nil {
		t.Errorf("node a still manages C's export after C's deactivation")
	}
}

// TestCollectOverTLS: the etcd member serves clients over TLS and requires client
// certificates; a node given the CA and its certificate collects live through it.
func TestCollectOverTLS(t *testing.T) {
	requirePuppet(t)
	requireFile(t, "/usr/lib/ruby/vendor_ruby/puppet/indirector/resource/puppetdb.rb", "puppet-terminus-puppetdb")
	ssldir := filepath.Join(t.TempDir(), "ssl")
	writePuppetSSL(t, ssldir, "server", "compiler.example", "nodea.example")
	tlsFlags := func(name string) []string {
		return []string{"--etcd-cacert", filepath.Join(ssldir, "certs", "ca.pem"),
			"--etcd-cert", filepath.Join(ssldir, "certs", name+".pem"), "--etcd-key", filepath.Join(ssldir, "private_keys", name+".pem")}
	}
	etcdURL := "https://" + freeAddr(t)
	server := startPuppetDB(t, ssldir, etcdURL, tlsFlags("server")...)
	pc := newCompiler(t, ssldir, server.addr, filepath.Join(moduleRoot(t), "fixtures", "exported", "site.pp"))
	cat := filepath.Join(t.TempDir(), "a.json")
	if err := os.WriteFile(cat, pc.compile("nodea.example"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startNode(t, "a", cat, append([]string{"--etcd-endpoints", etcdURL}, tlsFlags("nodea.example")...)...)
	pc.compile("nodeb.example")
	s := &seed{nodes: []*node{a}}
	s.waitFiles(t, 60*time.Second, func(string) string {
		return "collected/from-a-1 collected/from-a-2 collected/from-b-1 collected/from-b-2 local-a-1 local-a-2"
	})
}

// TestDeadNodeLease: with --export-lease, a node's exports count only while it
// runs. Node C is killed (SIGKILL, no goodbye): A and B stop managing C's exports
// once its lease has run out, without a deactivate_node.
func TestDeadNodeLease(t *testing.T) {
	s := startSeed(t, "-v", "--export-lease", "2s")
	s.waitFiles(t, 60*time.Second, func(name string) string { return seedFiles(name) })
	a, b, c := s.nodes[0], s.nodes[1], s.nodes[2]
	swaps := map[*node]int{a: strings.Count(a.out.String(), "Collected resources changed"),
		b: strings.Count(b.out.String(), "Collected resources changed")}
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
	start := time.Now()
	for _, n := range []*node{a, b} {
		for strings.Count(n.out.String(), "Collected resources changed") <= swaps[n] {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("node %s did not drop dead C's exports within 30 s\n%s", n.name, n.out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Logf("C killed: A and B dropped its exports %v later (lease of 2 s)", time.Since(start).Round(time.Millisecond))
	if err := os.Remove(a.path(placeholder + "/exported/collected/from-c-1")); err != nil {
		t.Fatal(err)
	}
	waitRepaired(t, a, "collected/from-b-1", 10*time.Second)
	if _, err := os.Stat(a.path(placeholder + "/exported/collected/from-c-1")); err == nil {
		t.Errorf("node a still manages dead C's export")
	}
}
