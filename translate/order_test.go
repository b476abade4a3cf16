package translate

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/delegate"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// TestFootprints: what each type may read and change (docs/parallel-safety.md).
func TestFootprints(t *testing.T) {
	runner := delegate.NewRunner(delegate.Config{TypeDirs: []string{}})
	for _, tc := range []struct {
		typ, title string
		params     map[string]any
		want       string // the accesses, or "everything: WHY"
	}{
		{"File", "/etc/motd", map[string]any{"content": "x"}, "writes /etc/motd"},
		{"File", "/etc/apache2/mods-enabled", map[string]any{"ensure": "directory", "recurse": true, "purge": true}, "writes /etc/apache2/mods-enabled/**"},
		{"File", "/etc/x", map[string]any{"source": "file:///srv/x"}, "writes /etc/x, reads /srv/x/**"},
		{"File", "/etc/x.conf", map[string]any{"content": "x", "validate_cmd": "/usr/sbin/check %"}, "writes /etc/x.conf, reads everything"},
		{"Exec", "rm", map[string]any{"command": "/bin/rm /etc/x", "onlyif": "/usr/bin/test -e /etc/x"}, "reads /bin/rm, writes /etc/x/**, reads /usr/bin/test, reads /etc/x"},
		{"Exec", "env", map[string]any{"command": "/bin/touch $F", "environment": []any{"F=/var/x"}}, "reads /bin/touch, writes /var/x/**"},
		{"Exec", "a2enmod", map[string]any{"command": "/usr/sbin/a2enmod ssl"}, "everything: command a2enmod is not known"},
		{"Exec", "creates", map[string]any{"command": "/bin/true", "creates": "/var/done"}, "reads /bin/true, reads /var/done"},
		{"Package", "nginx", nil, "everything: a package's maintainer scripts may change anything"},
		{"Service", "ssh", nil, "reads everything, writes systemd:/**, writes /etc/systemd/**"},
		{"User", "app", map[string]any{"managehome": true}, "writes /etc/passwd, writes /etc/shadow, writes /etc/group, writes /etc/gshadow, writes /etc/subuid, writes /etc/subgid, writes /home/app/**"},
		{"Group", "app", nil, "writes /etc/group, writes /etc/gshadow"},
		{"Host", "db", map[string]any{"ip": "10.0.0.1"}, "writes /etc/hosts"},
		{"Cron", "job", map[string]any{"command": "/bin/true", "user": "app"}, "writes /var/spool/cron/crontabs/app"},
		{"Mount", "/mnt/x", map[string]any{"ensure": "mounted", "device": "/dev/sdb", "fstype": "ext4"}, "writes /etc/fstab, writes /mnt/x/**"},
		{"File_line", "l", map[string]any{"path": "/etc/x", "line": "a"}, "writes /etc/x"},
		{"Sysctl", "vm.swappiness", map[string]any{"val": "10"}, "writes /etc/sysctl.conf"},
		{"Mailalias", "root", map[string]any{"recipient": "x"}, "writes /etc/aliases"},
		{"Postgresql_psql", "q", map[string]any{"port": "5432"}, "writes postgresql:/5432/**"},
		{"Notify", "hello", nil, ""},
		{"Tidy", "/var/tmp/x", nil, "writes /var/tmp/x/**"},
		{"Ini_setting", "s", map[string]any{"path": "/etc/x.ini"}, "writes /etc/x.ini"},
		{"Augeas", "a", map[string]any{"context": "/files/etc/ssh/sshd_config"}, "writes /etc/ssh/sshd_config/**"},
		{"Firewall", "100 x", nil, "everything: Firewall is run by Puppet"},
		{"Postgresql_conf", "port", map[string]any{"target": "/etc/postgresql/15/main/postgresql.conf", "value": "5432"}, "writes /etc/postgresql/15/main/postgresql.conf"},
		{"Postgresql_conn_validator", "v", map[string]any{"port": json.Number("5432")}, "reads systemd:/**, reads postgresql:/5432/**"},
		{"Postgresql_conn_validator", "v", nil, "reads everything"},
	} {
		t.Run(tc.typ+"["+tc.title+"]", func(t *testing.T) {
			cat := &catalog.Catalog{Name: "n", Environment: "production", Resources: []catalog.Resource{
				{Type: tc.typ, Title: tc.title, Kind: "compilable_type", Parameters: tc.params},
			}}
			res, err := Translate(cat, Options{Delegate: runner})
			if err != nil {
				t.Fatal(err)
			}
			tr := &translation{cat: cat, byKey: map[refKey]*item{}}
			for i := range cat.Resources {
				tr.byKey[tr.key(cat.Resources[i].Type, cat.Resources[i].Title)] = &item{r: &cat.Resources[i], ref: cat.Resources[i].Ref()}
			}
			var v *engine.Vertex
			for _, x := range res.Graph.Vertices() {
				if !x.Relay {
					v = x
				}
			}
			gotS := tr.footprint(v).String()
			if gotS != tc.want {
				t.Errorf("footprint\n got %s\nwant %s", gotS, tc.want)
			}
		})
	}
}

// In a noop run nothing changes, so nothing interferes: the fixtures whose
// resources need orderings to keep Puppet's order get none, and their
// relationships alone order them.
func TestNoopAddsNoOrderings(t *testing.T) {
	for _, fixture := range []string{"interfere", "delegated", "cron", "hostkeys"} {
		cat, err := catalog.ReadFile(filepath.Join("..", "fixtures", fixture, "catalog.json"))
		if err != nil {
			t.Fatal(err)
		}
		runner := delegate.NewRunner(delegate.Config{})
		applied, err := Translate(cat, Options{Delegate: runner})
		if err != nil {
			t.Fatal(err)
		}
		noop, err := Translate(cat, Options{Delegate: runner, Noop: true})
		if err != nil {
			t.Fatal(err)
		}
		runner.Close()
		if len(applied.Orderings) == 0 {
			t.Errorf("%s: no orderings when applied; the case shows nothing", fixture)
		}
		if len(noop.Orderings) != 0 {
			t.Errorf("%s: %d orderings in a noop run, want none: %v", fixture, len(noop.Orderings), noop.Orderings[0])
		}
	}
}
