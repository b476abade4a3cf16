package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/puppetconf"
)

func TestPuppetSettingsFacts(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "puppet.conf")
	if err := os.WriteFile(conf, []byte("[main]\nvardir = /srv/pv\nserver = puppet.example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := puppetconf.Load(conf, "agent", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	withStdlib, without := filepath.Join(dir, "lib"), filepath.Join(dir, "other")
	os.MkdirAll(withStdlib, 0o755)
	os.MkdirAll(without, 0o755)
	os.WriteFile(filepath.Join(withStdlib, "puppet_settings.rb"), nil, 0o644)

	// Facter with Puppet's code loaded by another fact gives Puppet's defaults.
	values := map[string]any{"puppet_server": "puppet"}
	puppetSettingsFacts(values, []string{without}, set)
	if len(values) != 1 {
		t.Errorf("without stdlib's puppet_settings.rb: %v, want nothing added", values)
	}
	puppetSettingsFacts(values, []string{without, withStdlib}, set)
	want := map[string]any{"puppet_server": "puppet.example.com", "puppet_vardir": "/srv/pv", "puppet_environmentpath": "/etc/puppet/code/environments"}
	for k, v := range want {
		if values[k] != v {
			t.Errorf("%s = %v, want %v", k, values[k], v)
		}
	}
}
