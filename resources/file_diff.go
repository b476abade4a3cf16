package resources

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// DiffCommand is the command show_diff runs, the old file and the new content's
// temporary file after it: Puppet's diff and diff_args settings ("diff", "-u").
var DiffCommand = []string{"diff", "-u"}

// SetShowDiff says whether the run shows diffs (Puppet's show_diff setting: off
// for puppet apply unless asked, on with puppet agent --test); the File's own
// show_diff parameter must allow it too.
func (f *File) SetShowDiff(on bool) { f.ShowDiff = f.ShowDiff && on }

// showDiff logs the change of content Puppet's show_diff logs, before the change
// is told (and in noop too): the output of `diff -u PATH TEMP`, where TEMP holds
// the new content under Ruby's Tempfile name; "[diff redacted]" for sensitive
// content; Puppet's sentence when the output is not text.
func (f *File) showDiff() {
	if f.ContentSensitive {
		f.h.PropertyLogf(engine.Notice, "content", "[diff redacted]")
		return
	}
	out, err := diffContent(f.Path, *f.Content)
	if err != nil {
		f.h.PropertyLogf(engine.Warning, "content", "Could not show the diff: %v", err)
		return
	}
	f.h.PropertyLogf(engine.Notice, "content", "\n%s", out)
}

// diffContent runs DiffCommand on path and a temporary file with content. The
// exit status is not looked at (diff exits 1 when the files differ) and stderr
// is dropped, as Puppet's execute with failonfail and combine false.
func diffContent(path, content string) (string, error) {
	tmp, err := tempfile(os.TempDir(), "puppet-file")
	if err != nil {
		return "", err
	}
	name := tmp.Name()
	defer os.Remove(name)
	_, err = tmp.WriteString(content)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	cmd := exec.Command(DiffCommand[0], append(slices.Clone(DiffCommand[1:]), path, name)...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		if _, exited := err.(*exec.ExitError); !exited {
			return "", err
		}
	}
	if !utf8.Valid(stdout.Bytes()) {
		return fmt.Sprintf("Binary files %s and %s differ", path, name), nil
	}
	return stdout.String(), nil
}

// tempfile creates a file named as Ruby's Tempfile names them: prefix, the date,
// the PID and a random base-36 suffix ("puppet-file20261203-21066-d7kycx").
func tempfile(dir, prefix string) (*os.File, error) {
	for try := 0; ; try++ {
		name := fmt.Sprintf("%s%s-%d-%s", prefix, time.Now().Format("20060102"), os.Getpid(), strconv.FormatUint(rand.Uint64N(1<<32), 36))
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil || !os.IsExist(err) || try == 10 {
			return f, err
		}
	}
}
