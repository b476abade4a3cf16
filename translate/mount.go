package translate

import (
	"encoding/json"
	"path"
	"strconv"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// mount_core's mount, with its parsed provider on Linux: an fstab entry and the
// mounted state of its mount point. A mount autorequires the mounts of its parent
// directories.
func init() {
	register("Mount", Native{
		Namevar:     "name",
		Canonical:   mountName,
		Build:       buildMount,
		Autorequire: mountAutorequire,
		Redactable:  []string{"ensure", "device", "blockdevice", "fstype", "options", "pass", "atboot", "dump", "target"},
	})
}

// mountName is the type's munge of the name: trailing slashes go ("/" stays).
func mountName(s string) string {
	t := strings.TrimRight(s, "/")
	if t == "" && s != "" {
		return "/"
	}
	return t
}

func buildMount(p *Params) engine.Resource {
	m := &resources.Mount{Name: mountName(p.Namevar("name")), Target: p.String("target", "/etc/fstab")}
	if e, ok := p.OptString("ensure"); ok {
		if e == "present" { // aliasvalue :present, :defined
			e = "defined"
		}
		m.Ensure = e
	}
	for _, s := range []struct {
		name string
		dst  **string
	}{{"device", &m.Device}, {"fstype", &m.Fstype}, {"options", &m.Options}} {
		if v, ok := p.OptString(s.name); ok {
			*s.dst = &v
		}
	}
	// dump and pass default to 0 once any property is managed (managed?).
	managed := false
	for _, name := range []string{"ensure", "device", "blockdevice", "fstype", "options", "pass", "atboot", "dump", "target"} {
		if _, ok := p.Raw(name); ok {
			managed = true
		}
	}
	m.Dump, m.Pass = mountValue(p, "dump", managed), mountValue(p, "pass", managed)
	if s, ok := p.OptString("blockdevice"); ok && strings.ContainsAny(s, " \t\r\n\f\v") {
		p.Errorf("blockdevice", "blockdevice must not contain whitespace: %s", s)
	}
	mountAtboot(p)
	m.Remounts = true
	if v, ok := p.Raw("remounts"); ok {
		switch s, _ := scalarString(v); s {
		case "true":
		case "false":
			m.Remounts = false
		default:
			p.Errorf("remounts", "Invalid value %s. Valid values are true, false.", rubyValue(v))
		}
	}
	parsedProvider(p)
	m.Sensitive = sensitiveOf(p, "ensure", "device", "fstype", "options", "pass", "dump", "target")
	reportRecordErrors(p, m.Validate())
	return m
}

// mountValue reads dump or pass, remembering whether the catalog gave a number
// (Puppet prints those bare); unset, it is 0 when the mount is managed.
func mountValue(p *Params, name string, managed bool) *resources.MountValue {
	v, ok := p.Raw(name)
	if !ok {
		if managed {
			return &resources.MountValue{Text: "0", Number: true}
		}
		return nil
	}
	s, ok := p.OptString(name)
	if !ok {
		return nil
	}
	_, isString := v.(string)
	return &resources.MountValue{Text: s, Number: !isString}
}

// mountAtboot checks atboot, a boolean property the provider ignores on Linux.
func mountAtboot(p *Params) {
	v, ok := p.Raw("atboot")
	if !ok {
		return
	}
	if _, isBool := v.(bool); isBool {
		return
	}
	if s, isString := v.(string); isString {
		switch strings.ToLower(s) {
		case "true", "false", "yes", "no":
			return
		}
	}
	p.Errorf("atboot", "Munging failed for value %s in class atboot: expected a boolean value", rubyValue(v))
}

// rubyValue prints a scalar as Ruby's inspect does: strings quoted, numbers bare.
func rubyValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case json.Number, float64, int, int64, bool:
		s, _ := scalarString(x)
		return s
	}
	return describe(v)
}

// mountAutorequire is the type's autorequire: the mounts of every parent directory,
// each its own dependency.
func mountAutorequire(p *Params) [][]Ref {
	v, _ := p.Raw("name")
	name, _ := v.(string)
	if name == "" {
		name = p.Title()
	}
	name = mountName(name)
	var groups [][]Ref
	for d := name; ; {
		parent := path.Dir(d)
		if parent == d || parent == "." {
			break
		}
		groups = append([][]Ref{{{"Mount", parent}}}, groups...)
		d = parent
	}
	return groups
}
