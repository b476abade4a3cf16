package translate

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// TestSSHAuthorizedKeyTranslate: type aliases, options, defaults, and Puppet's
// validation reported against the resource and the parameter.
func TestSSHAuthorizedKeyTranslate(t *testing.T) {
	typeErr := `Ssh_authorized_key[a@b]: parameter type: Invalid value "ssh-foo". Valid values are ` +
		strings.Join(resources.SSHKeyTypes, ", ") + "."
	for _, tc := range []struct {
		name   string
		params map[string]any
		want   []string
	}{
		{"ok", map[string]any{"user": "root", "type": "ssh-ed25519", "key": "AAAA", "options": []any{"no-pty", `from="10.0.0.0/8"`}}, nil},
		{"target only", map[string]any{"target": "/srv/keys", "type": "rsa", "key": "AAAA"}, nil},
		{"neither user nor target", map[string]any{"type": "rsa", "key": "AAAA"},
			[]string{"Ssh_authorized_key[a@b]: parameter user: Attribute 'user' or 'target' is mandatory"}},
		{"bad type", map[string]any{"user": "root", "type": "ssh-foo", "key": "AAAA"}, []string{typeErr}},
		{"key with space", map[string]any{"user": "root", "type": "rsa", "key": "AA AA"},
			[]string{"Ssh_authorized_key[a@b]: parameter key: Key must not contain whitespace: AA AA"}},
		{"bad option", map[string]any{"user": "root", "type": "rsa", "key": "AAAA", "options": "no-pty,no-X11-forwarding"},
			[]string{"Ssh_authorized_key[a@b]: parameter options: Option no-pty,no-X11-forwarding is not valid. A single option must either be of the form 'option' or 'option=\"value\"'. Multiple options must be provided as an array"}},
		{"relative target", map[string]any{"target": "keys", "type": "rsa", "key": "AAAA"},
			[]string{"Ssh_authorized_key[a@b]: parameter target: target must be an absolute path, not 'keys'"}},
		{"drop_privileges", map[string]any{"user": "root", "drop_privileges": "maybe"},
			[]string{`Ssh_authorized_key[a@b]: parameter drop_privileges: want true or false, got "maybe"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, p := buildNative(t, "Ssh_authorized_key", "a@b", tc.params)
			if got := errStrings(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
	for alias, want := range map[string]string{"dsa": "ssh-dss", "ed25519": "ssh-ed25519", "rsa": "ssh-rsa",
		"ecdsa-sk": "sk-ecdsa-sha2-nistp256@openssh.com", "ed25519-sk": "sk-ssh-ed25519@openssh.com", "ssh-rsa": "ssh-rsa"} {
		res, p := buildNative(t, "Ssh_authorized_key", "a@b", map[string]any{"user": "root", "type": alias, "key": "AAAA"})
		if k := res.(*resources.SSHAuthorizedKey); k.Type != want || p.Errs() != nil {
			t.Errorf("type %s: %s, %v; want %s", alias, k.Type, p.Errs(), want)
		}
	}
	res, _ := buildNative(t, "Ssh_authorized_key", "a@b", map[string]any{"user": "root", "options": "absent", "key": "AAAA"}, "key")
	k := res.(*resources.SSHAuthorizedKey)
	if k.Options != nil || !k.DropPrivileges || k.Target != "" || !k.Sensitive["key"] {
		t.Errorf("defaults: %+v", k)
	}
	auto := natives["Ssh_authorized_key"].Autorequire(newParams(&catalog.Resource{Type: "Ssh_authorized_key", Title: "a@b",
		Parameters: map[string]any{"user": "alice"}}))
	if !reflect.DeepEqual(refStrings(auto), [][]string{{"User[alice]"}}) {
		t.Errorf("autorequire %v", auto)
	}
}
