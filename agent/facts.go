package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Facts are a node's facts as puppet agent sends them with a catalog request.
type Facts struct {
	Name   string         // certname
	Values map[string]any // fact name -> value
	Time   time.Time
	// Expiration is the time the server may consider them stale: the next run.
	Expiration time.Time
}

// FactOptions say where Facter finds the facts pluginsync brought.
type FactOptions struct {
	Facter      string   // the facter command; "" is facter from PATH
	ExternalDir []string // pluginfactdest and the like, used when they exist
	CustomDir   []string // $libdir/facter
}

// GatherFacts runs Facter with legacy facts (Puppet asks Facter.to_hash for them)
// and adds the facts Puppet adds: clientcert, clientversion, clientnoop,
// puppetversion, and agent_specified_environment when the environment was given.
func GatherFacts(ctx context.Context, certname string, noop bool, specifiedEnv string, o FactOptions, runinterval time.Duration) (*Facts, []byte, error) {
	cmd := o.Facter
	if cmd == "" {
		cmd = "facter"
	}
	args := []string{"--json", "--show-legacy"}
	for _, d := range o.ExternalDir {
		if isDir(d) {
			args = append(args, "--external-dir", d)
		}
	}
	for _, d := range o.CustomDir {
		if isDir(d) {
			args = append(args, "--custom-dir", d)
		}
	}
	c := exec.CommandContext(ctx, cmd, args...)
	// Cancelled (a run that ends before its facts are used), Facter goes with
	// whatever its custom facts started, which would hold its pipes open.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, runErr := c.Output()
	// Facter exits 1 when it logged an error, and still prints every fact it
	// resolved: the facts count, as in Puppet, which logs Facter's errors and goes on.
	values := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&values); err != nil {
		if runErr != nil {
			return nil, stderr.Bytes(), fmt.Errorf("facter: %w: %s", runErr, lastLine(stderr.Bytes()))
		}
		return nil, stderr.Bytes(), fmt.Errorf("facter --json: %w", err)
	}
	values["clientcert"] = certname
	values["clientversion"] = PuppetVersion
	values["clientnoop"] = noop
	values["puppetversion"] = PuppetVersion
	if specifiedEnv != "" {
		values["agent_specified_environment"] = specifiedEnv
	}
	now := time.Now()
	return &Facts{Name: certname, Values: values, Time: now, Expiration: now.Add(runinterval)}, stderr.Bytes(), nil
}

// rubyISO8601 is Ruby's Time#iso8601(9).
const rubyISO8601 = "2006-01-02T15:04:05.000000000-07:00"

// JSON is the wire object of a catalog request's facts.
func (f *Facts) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // Ruby's JSON writes & < > as they are
	err := enc.Encode(struct {
		Name       string         `json:"name"`
		Values     map[string]any `json:"values"`
		Timestamp  string         `json:"timestamp"`
		Expiration string         `json:"expiration"`
	}{f.Name, f.Values, f.Time.Format(rubyISO8601), f.Expiration.Format(rubyISO8601)})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func lastLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return string(b)
}

// FacterMessage is one message Facter logged.
type FacterMessage struct {
	Level   string // ERROR, WARN, INFO, DEBUG
	Message string // colour codes removed
}

var (
	ansi      = regexp.MustCompile("\x1b\\[[0-9;]*m")
	facterLog = regexp.MustCompile(`^\[[^\]]*\]\s+(ERROR|WARN|INFO|DEBUG)\s+\S+\s+-\s+(.*)$`)
)

// FacterMessages reads what Facter wrote to stderr: its log lines, and any other
// line as an error.
func FacterMessages(stderr []byte) []FacterMessage {
	var out []FacterMessage
	for _, l := range strings.Split(string(stderr), "\n") {
		l = strings.TrimSpace(ansi.ReplaceAllString(l, ""))
		if l == "" {
			continue
		}
		if m := facterLog.FindStringSubmatch(l); m != nil {
			out = append(out, FacterMessage{Level: m[1], Message: strings.TrimSpace(m[2])})
			continue
		}
		out = append(out, FacterMessage{Level: "ERROR", Message: l})
	}
	return out
}
