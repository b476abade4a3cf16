package resources

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources/atomicfile"
)

// FileLine is stdlib's file_line: one line present in (or absent from) a file,
// found by its exact text or by a pattern, as its ruby provider does. The file is
// rewritten atomically (the provider rewrites it in place), keeping its mode and
// owner.
type FileLine struct {
	Path string // absolute
	Line string
	// Absent removes the line (or, with MatchForAbsence, the lines matching Match).
	Absent bool
	// Match and After are Ruby regular expressions as written in the catalog;
	// empty means unset. Ruby's ^ and $ match at line ends; so do these.
	Match, After          string
	MatchForAbsence       bool
	Multiple              bool
	Replace               bool // Puppet's default is true
	ReplaceAllNotMatching bool // replace_all_matches_not_matching_line
	AppendOnNoMatch       bool // Puppet's default is true

	match, after *regexp.Regexp
	h            engine.Handle
	pathWatch
}

var _ engine.Resource = (*FileLine)(nil)

// compileRuby compiles a Ruby pattern in Go's syntax, with Ruby's line anchors.
func compileRuby(pattern string) (*regexp.Regexp, error) {
	return regexp.Compile("(?m)" + pattern)
}

// Validate checks the parameters as file_line's validate block does and compiles
// the patterns.
func (l *FileLine) Validate() error {
	var err error
	switch {
	case !strings.HasPrefix(l.Path, "/"):
		return fmt.Errorf("File paths must be fully qualified, not '%s'", l.Path)
	case l.ReplaceAllNotMatching && !l.Multiple:
		return errors.New("multiple must be true when replace_all_matches_not_matching_line is true")
	case l.ReplaceAllNotMatching && !l.Replace:
		return errors.New("replace must be true when replace_all_matches_not_matching_line is true")
	case l.Line == "" && !(l.Absent && l.MatchForAbsence && l.Match != ""):
		return errors.New("line is a required attribute")
	}
	if l.Match != "" {
		if l.match, err = compileRuby(l.Match); err != nil {
			return fmt.Errorf("match %q: %v (Ruby patterns that Go's regexp cannot read are not supported)", l.Match, err)
		}
	}
	if l.After != "" {
		if l.after, err = compileRuby(l.After); err != nil {
			return fmt.Errorf("after %q: %v (Ruby patterns that Go's regexp cannot read are not supported)", l.After, err)
		}
	}
	return nil
}

// ProviderName names the provider, as reports do: stdlib's ruby provider.
func (l *FileLine) ProviderName() string { return "ruby" }

// Init keeps the handle.
func (l *FileLine) Init(h engine.Handle) error {
	l.h = h
	return nil
}

// Watch watches the file.
func (l *FileLine) Watch(ctx context.Context) error { return l.watch(ctx, l.Path, l.h.Poke) }

// Close ends the watch.
func (l *FileLine) Close() error {
	l.close()
	return nil
}

// CheckApply reads the file and, when the line is not as wanted, reports ensure
// created or removed and, with apply, rewrites the file.
func (l *FileLine) CheckApply(ctx context.Context, apply bool) (bool, error) {
	// Puppet's provider writes the file in place, through a symlink: the new content
	// replaces the link's target, in the directory this check reads.
	real := l.Path
	if r, err := filepath.EvalSymlinks(l.Path); err == nil {
		real = r
	}
	sweep(l.h, real)
	var dir *atomicfile.DirID
	if id, err := atomicfile.DirOf(real); err == nil {
		dir = &id
	}
	data, err := os.ReadFile(l.Path)
	if testHookChecked != nil {
		testHookChecked(l.Path)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) && !apply:
		data = nil // the provider reads no lines in noop
	case err != nil:
		return false, fmt.Errorf("No such file or directory @ rb_sysopen - %s", l.Path)
	}
	lines := readLines(string(data))
	exists := l.exists(lines)
	if exists != l.Absent {
		return true, nil
	}
	c := engine.Change{Property: "ensure", Previous: "absent", Desired: "present", Message: "created"}
	if l.Absent {
		c = engine.Change{Property: "ensure", Previous: "present", Desired: "absent", Message: "removed"}
	}
	l.h.Change(c)
	if !apply {
		return false, nil
	}
	var out []string
	if l.Absent {
		out, err = l.destroy(lines)
	} else {
		out, err = l.create(lines)
	}
	if err == nil && out != nil {
		err = l.write(real, dir, out)
	}
	if err != nil {
		return false, &engine.ChangeError{Property: "ensure", From: c.Previous, To: c.Desired, Err: err}
	}
	return false, nil
}

// readLines is Ruby's readlines: each line keeps its "\n"; the last may lack it.
func readLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func (l *FileLine) countMatches(lines []string, re *regexp.Regexp) int {
	n := 0
	for _, line := range lines {
		if l.ReplaceAllNotMatching && strings.TrimSuffix(line, "\n") == l.Line {
			continue
		}
		if re.MatchString(line) {
			n++
		}
	}
	return n
}

// exists is the provider's exists?, lies included.
func (l *FileLine) exists(lines []string) bool {
	count := 0
	for _, line := range lines {
		if strings.TrimSuffix(line, "\n") == l.Line {
			count++
		}
	}
	if l.match == nil {
		return count > 0
	}
	matches := l.countMatches(lines, l.match)
	if !l.Absent {
		switch {
		case matches == 0:
			return count > 0 || !l.AppendOnNoMatch
		case l.ReplaceAllNotMatching:
			return false
		case count == 0:
			return !l.Replace
		}
		return true
	}
	if matches == 0 {
		return count > 0
	}
	if count == 0 {
		return l.MatchForAbsence
	}
	return true
}

// puts is Ruby's IO#puts of one string: a newline is added unless it ends with one.
func puts(out []string, s string) []string {
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return append(out, s)
}

// create returns the new lines (nil when nothing is to be written).
func (l *FileLine) create(lines []string) ([]string, error) {
	if !l.Replace && l.match != nil && l.countMatches(lines, l.match) > 0 {
		return nil, nil
	}
	var out []string
	switch {
	case l.match != nil:
		count := l.countMatches(lines, l.match)
		if count > 1 && !l.Multiple {
			return nil, fmt.Errorf("More than one line in file '%s' matches pattern '%s'", l.Path, l.Match)
		}
		for _, line := range lines {
			if l.match.MatchString(line) {
				out = puts(out, l.Line)
			} else {
				out = puts(out, line)
			}
			if count == 0 && l.after != nil && l.after.MatchString(line) {
				out = puts(out, l.Line)
				count++
			}
		}
		if count == 0 {
			out = puts(out, l.Line)
		}
	case l.after != nil:
		count := l.countMatches(lines, l.after)
		if count > 1 && !l.Multiple {
			return nil, fmt.Errorf("%d lines match pattern '%s' in file '%s'. One or no line must match the pattern.", count, l.After, l.Path)
		}
		for _, line := range lines {
			out = puts(out, line)
			if l.after.MatchString(line) {
				out = puts(out, l.Line)
			}
		}
		if count == 0 {
			out = puts(out, l.Line)
		}
	default:
		for _, line := range lines {
			out = puts(out, line)
		}
		out = puts(out, l.Line)
	}
	return out, nil
}

func (l *FileLine) destroy(lines []string) ([]string, error) {
	out := []string{}
	if l.MatchForAbsence && l.match != nil {
		if count := l.countMatches(lines, l.match); count > 1 && !l.Multiple {
			return nil, fmt.Errorf("More than one line in file '%s' matches pattern '%s'", l.Path, l.Match)
		}
		for _, line := range lines {
			if !l.match.MatchString(line) {
				out = append(out, line)
			}
		}
		return out, nil
	}
	for _, line := range lines {
		if strings.TrimSuffix(line, "\n") != l.Line {
			out = append(out, line)
		}
	}
	return out, nil
}

// write replaces the file path (File_line's, symlinks resolved) with lines,
// keeping its mode and owner, in the directory dir when set.
func (l *FileLine) write(path string, dir *atomicfile.DirID, lines []string) error {
	cur, err := readState(path)
	if err != nil {
		return err
	}
	mode, uid, gid := uint32(0o644), -1, -1
	if cur.exists() {
		mode, uid, gid = cur.perm, cur.uid, cur.gid
	}
	return writeAtomicChecked(path, strings.Join(lines, ""), atomicfile.Options{Mode: mode, UID: uid, GID: gid, Dir: dir, Yield: yielder(l.h)})
}
