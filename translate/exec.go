package translate

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/catalog"
	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

func init() {
	register("Exec", Native{
		Namevar:   "command",
		NotUnique: true, // Puppet allows execs of the same command
		Build:     buildExec,
		// returns is the property; Exec redacts its commands itself.
		Redactable:  []string{"returns", "command", "onlyif", "unless"},
		Autorequire: execAutorequire,
	})
}

// buildExec reads Puppet's exec parameters (lib/puppet/type/exec.rb). Range and syntax
// checks are Exec.Validate's; they are reported here, one per parameter.
func buildExec(p *Params) engine.Resource {
	e := resources.NewExec("")
	if v, ok := p.Raw("command"); ok {
		if list, isList := v.([]any); isList {
			// Validated on its program alone.
			p.Unsupportedf("command", "the array form")
			e.Command = p.Title()
			if len(list) > 0 {
				e.Command, _ = list[0].(string)
			}
		}
	}
	if e.Command == "" {
		e.Command = p.Namevar("command")
	}
	if p.Has("path") {
		e.Path = []string{}
		for _, s := range p.Strings("path") {
			e.Path = append(e.Path, rubySplit(s, ":")...)
		}
	}
	e.Cwd = p.String("cwd", "")
	// A Sensitive element inside the list: Puppet 7 rejects the catalog.
	if list, ok := p.res.Parameters["environment"].([]any); ok {
		for _, v := range list {
			if _, ok := v.(catalog.Sensitive); ok {
				p.Errorf("environment", "Invalid environment setting 'Sensitive [value redacted]'")
			}
		}
	}
	e.Environment = p.Strings("environment")
	e.User = p.String("user", "")
	e.Group = p.String("group", "")
	e.Umask = p.String("umask", "")
	e.Creates = p.Strings("creates")
	e.Onlyif = p.Strings("onlyif")
	e.Unless = p.Strings("unless")
	e.Refreshonly = p.Bool("refreshonly", false)
	e.RefreshCommand = p.String("refresh", "")
	if p.Has("returns") {
		e.Returns = nil
		for _, s := range p.Strings("returns") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				p.Errorf("returns", "want an integer or a list of integers, got %q", s)
				continue
			}
			e.Returns = append(e.Returns, n)
		}
		if len(e.Returns) == 0 {
			e.Returns = []int{0}
		}
	}
	// Puppet takes the first of a list and makes a negative timeout 0 (none).
	e.Timeout = seconds(max(p.Float("timeout", 300), 0))
	e.Tries = p.Int("tries", 1)
	if e.Tries < 1 {
		p.Errorf("tries", "Tries must be an integer >= 1")
		e.Tries = 1
	}
	e.TrySleep = seconds(p.Float("try_sleep", 0))
	e.Logoutput = p.String("logoutput", "on_failure")
	e.Provider = p.String("provider", "posix")
	e.Sensitive = p.Sensitive("command") || p.Sensitive("onlyif") || p.Sensitive("unless")
	e.Loglevel = loglevel(p)

	if err := e.Validate(); err != nil {
		var joined interface{ Unwrap() []error }
		errs := []error{err}
		if errors.As(err, &joined) {
			errs = joined.Unwrap()
		}
		for _, err := range errs {
			var pe *resources.ExecParamError
			if errors.As(err, &pe) {
				p.Errorf(pe.Param, "%v", pe.Err)
			} else {
				p.Errorf("command", "%v", err)
			}
		}
	}
	return e
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// rubySplit is Ruby's String#split with a string separator: trailing empty fields are
// dropped.
func rubySplit(s, sep string) []string {
	parts := strings.Split(s, sep)
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

var (
	// execFile is the posix file_regex of exec's autorequire; ^ matches at each line.
	execFile = regexp.MustCompile(`(?m)^(/\S+)`)
	// execQuoted is a double-quoted command at the start of a line.
	execQuoted = regexp.MustCompile(`(?m)^"([^"]+)"`)
	numeric    = regexp.MustCompile(`^\d+$`)
)

// execAutorequire is exec's: File[cwd], the absolute paths that start the command's
// lines (or its double-quoted head), those of onlyif and unless, and User[user] unless
// numeric.
func execAutorequire(p *Params) [][]Ref {
	var out [][]Ref
	file := func(path string) { out = append(out, []Ref{{"File", path}}) }
	if cwd := p.String("cwd", ""); cwd != "" {
		file(cwd)
	}
	cmd := p.Namevar("command")
	for _, m := range execFile.FindAllStringSubmatch(cmd, -1) {
		file(m[1])
	}
	for _, m := range execQuoted.FindAllStringSubmatch(cmd, -1) {
		file(m[1])
	}
	for _, param := range []string{"onlyif", "unless"} {
		for _, line := range p.Strings(param) {
			for _, m := range execFile.FindAllStringSubmatch(line, -1) {
				file(m[1])
			}
		}
	}
	if u := p.String("user", ""); u != "" && !numeric.MatchString(u) {
		out = append(out, []Ref{{"User", u}})
	}
	return out
}
