package resources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
)

// Exec runs a command when its checks say it must, as Puppet 7's exec type does with
// the posix or shell provider. Its state is "notrun" until the command has run with an
// allowed exit code. Exec has nothing to watch: Watch returns at once and never pokes,
// so the command runs on the first pass and on refresh, not on drift of its Creates
// paths (Puppet runs it once per agent run, which is what an agent run here does too).
//
// The zero value of an optional field means Puppet's default, except Timeout (zero is
// no timeout) and Loglevel (zero is Debug): NewExec sets every default.
type Exec struct {
	Command     string
	Path        []string // search path; PATH of the command when set
	Cwd         string   // working directory; must exist
	Environment []string // "K=V" settings added to the environment
	User, Group string   // names or numeric ids; honoured when running as root
	Umask       string   // octal, "022" or "0022"; empty keeps ours
	Creates     []string // the command is in sync when any of these exists
	Onlyif      []string // all must succeed for the command to run
	Unless      []string // the command runs only if all of these fail
	Refreshonly bool     // run only on refresh
	// RefreshCommand runs on refresh instead of Command (Puppet's refresh).
	RefreshCommand string
	Returns        []int         // allowed exit codes; nil means [0]
	Timeout        time.Duration // per try; zero means none
	Tries          int           // attempts until an allowed exit code; zero means 1
	TrySleep       time.Duration // pause between tries
	Logoutput      string        // "on_failure" (the default), "true" or "false"
	Provider       string        // "posix" (the default) or "shell"
	Sensitive      bool          // command, onlyif and unless are redacted from logs
	// Loglevel is the level of the command's output lines (Puppet's loglevel
	// metaparameter, notice by default).
	Loglevel engine.Level

	// execute: run as Puppet::Util::Execution.execute runs a string given options
	// (a module's provider calling it): no provider checks, Ruby's rules for when
	// the shell runs it, stderr to /dev/null (combine is false), and a command the
	// shell did not find is only an empty output.
	execute bool

	h engine.Handle
}

var (
	_ engine.Resource  = (*Exec)(nil)
	_ engine.Refresher = (*Exec)(nil)
)

// NewExec returns an Exec of command with Puppet's defaults: returns [0], timeout
// 300 s, one try, logoutput on_failure, provider posix, loglevel notice.
func NewExec(command string) *Exec {
	return &Exec{
		Command:   command,
		Returns:   []int{0},
		Timeout:   300 * time.Second,
		Tries:     1,
		Logoutput: "on_failure",
		Provider:  "posix",
		Loglevel:  engine.Notice,
	}
}

// ExecParamError is a parameter that Exec.Validate rejects.
type ExecParamError struct {
	Param string // "command", "umask"
	Err   error
}

func (e *ExecParamError) Error() string { return "parameter " + e.Param + ": " + e.Err.Error() }
func (e *ExecParamError) Unwrap() error { return e.Err }

var (
	umaskRe = regexp.MustCompile(`^0?[0-7]{1,4}$`)
	envRe   = regexp.MustCompile(`\w+=`)
	// envSetting is how the provider reads a setting (anything else is skipped).
	envSetting = regexp.MustCompile(`(?s)^(\w+)=(.*)$`)
)

// Validate checks the parameters; all problems are returned together, each an
// *ExecParamError, and the whole marked engine.Permanent.
// ProviderName names the provider, as reports do.
func (e *Exec) ProviderName() string { return e.Provider }

func (e *Exec) Validate() error {
	var errs []error
	bad := func(param, format string, args ...any) {
		errs = append(errs, &ExecParamError{Param: param, Err: fmt.Errorf(format, args...)})
	}
	if e.Command == "" {
		bad("command", "must not be empty")
	}
	switch e.Provider {
	case "", "posix", "shell":
	default:
		bad("provider", "invalid value %q, want posix or shell", e.Provider)
	}
	switch e.Logoutput {
	case "", "true", "false", "on_failure":
	default:
		bad("logoutput", "invalid value %q, want true, false or on_failure", e.Logoutput)
	}
	if e.Tries < 0 {
		bad("tries", "Tries must be an integer >= 1")
	}
	if e.TrySleep < 0 {
		bad("try_sleep", "try_sleep cannot be a negative number")
	}
	if e.Timeout < 0 {
		bad("timeout", "The timeout must not be negative")
	}
	if e.Umask != "" && !umaskRe.MatchString(e.Umask) {
		bad("umask", "The umask specification is invalid: %q", e.Umask)
	}
	for _, s := range e.Environment {
		if !envRe.MatchString(s) {
			bad("environment", "Invalid environment setting '%s'", s)
		}
	}
	if e.Cwd != "" && !strings.HasPrefix(e.Cwd, "/") {
		bad("cwd", "cwd must be a fully qualified path")
	}
	for _, c := range e.Creates {
		if !strings.HasPrefix(c, "/") {
			bad("creates", "creates must be a fully qualified path")
			break
		}
	}
	if e.Provider != "shell" && e.Command != "" {
		check := func(param, cmd string) {
			if err := e.qualified(cmd); err != nil {
				errs = append(errs, &ExecParamError{Param: param, Err: err})
			}
		}
		check("command", e.Command)
		if e.RefreshCommand != "" {
			check("refresh", e.RefreshCommand)
		}
		for _, c := range e.Onlyif {
			check("onlyif", c)
		}
		for _, c := range e.Unless {
			check("unless", c)
		}
	}
	return engine.Permanent(errors.Join(errs...))
}

// qualified is the posix provider's validatecmd.
func (e *Exec) qualified(cmd string) error {
	exe := extractExe(cmd)
	if !strings.HasPrefix(exe, "/") && e.Path == nil {
		return fmt.Errorf("'%s' is not qualified and no path was specified. Please qualify the command or specify a path.", exe)
	}
	return nil
}

// Init keeps the handle.
func (e *Exec) Init(h engine.Handle) error {
	e.h = h
	return nil
}

// Watch does nothing: an Exec's state is whether it has run, which nothing outside
// changes. It never pokes.
func (e *Exec) Watch(ctx context.Context) error { return nil }

var _ engine.Unwatched = (*Exec)(nil)

// Unwatched says that only evaluating an Exec runs its checks.
func (e *Exec) Unwatched() {}

// Close does nothing.
func (e *Exec) Close() error { return nil }

// CheckApply runs the checks (refreshonly, creates, unless, onlyif, in Puppet's order)
// and, when they say the command must run and apply is true, runs it. A disallowed
// exit code, a timeout or a command that cannot run is an *engine.ChangeError on
// property "returns"; a check that cannot run is a plain error.
func (e *Exec) CheckApply(ctx context.Context, apply bool) (bool, error) {
	run, err := e.checkAll(ctx, false)
	if err != nil || !run {
		return !run, err
	}
	change := engine.Change{
		Property: "returns",
		Previous: "notrun",
		Desired:  formatReturns(e.returns()),
		Message:  "executed successfully",
	}
	if !apply {
		e.h.Change(change)
		return false, nil
	}
	if err := e.sync(ctx); err != nil {
		if ctx.Err() != nil {
			// Cut short (the engine's Abort, at runtimeout): as in Puppet, the
			// change fails with what ended it ("execution expired").
			err = context.Cause(ctx)
		}
		return false, &engine.ChangeError{Property: "returns", From: "notrun", To: change.Desired, Err: err}
	}
	e.h.Change(change)
	return false, nil
}

// Refresh runs RefreshCommand (whose exit code Puppet ignores) or else Command (as CheckApply
// would, exit code checked) when creates, unless and onlyif allow it; refreshonly does
// not stop it. With apply false it does nothing.
func (e *Exec) Refresh(ctx context.Context, apply bool) error {
	if !apply {
		return nil
	}
	run, err := e.checkAll(ctx, true)
	if err != nil || !run {
		return err
	}
	if e.RefreshCommand == "" {
		return e.sync(ctx)
	}
	_, err = e.run(ctx, e.RefreshCommand, false)
	if errors.Is(err, errTimeout) {
		return errors.New("execution expired") // Ruby's Timeout::Error, uncaught here
	}
	return err
}

// checkAll reports whether the command must run.
func (e *Exec) checkAll(ctx context.Context, refreshing bool) (bool, error) {
	failed := func(check string) (bool, error) {
		e.h.Logf(engine.Debug, "'%s' won't be executed because of failed check '%s'", e.redacted(e.Command, "[command redacted]"), check)
		return false, nil
	}
	if e.Refreshonly && !refreshing {
		return failed("refreshonly")
	}
	for _, c := range e.Creates {
		e.h.Logf(engine.Debug, "Checking that 'creates' path '%s' exists", c)
		if _, err := os.Stat(c); err == nil {
			return failed("creates")
		}
	}
	for _, check := range []struct {
		name string
		cmds []string
		want bool // pass when the command succeeds
	}{{"unless", e.Unless, false}, {"onlyif", e.Onlyif, true}} {
		for _, c := range check.cmds {
			res, err := e.run(ctx, c, true)
			if errors.Is(err, errTimeout) {
				e.h.Logf(engine.Err, "Check %s exceeded timeout", e.redacted(strconv.Quote(c), "[redacted]"))
				return failed(check.name)
			}
			if err != nil {
				return false, err
			}
			e.logLines(engine.Debug, res.output)
			if (res.code == 0) != check.want {
				return failed(check.name)
			}
		}
	}
	return true, nil
}

// sync is the returns property's sync: try, log the output, judge the exit code.
func (e *Exec) sync(ctx context.Context) error {
	tries := max(e.Tries, 1)
	var res result
	for try := 1; ; try++ {
		if tries > 1 {
			e.h.Logf(engine.Debug, "Exec try %d/%d", try, tries)
		}
		var err error
		res, err = e.run(ctx, e.Command, false)
		if errors.Is(err, errTimeout) {
			return errors.New("Command exceeded timeout")
		}
		if err != nil {
			return err
		}
		if e.allowed(res) || try >= tries {
			break
		}
		if e.TrySleep > 0 {
			e.h.Logf(engine.Debug, "Sleeping for %g seconds between tries", e.TrySleep.Seconds())
			if err := sleepCtx(ctx, e.TrySleep); err != nil {
				return err
			}
		}
	}
	ok := e.allowed(res)
	if e.Logoutput == "true" || (!ok && e.Logoutput != "false") {
		e.logLines(e.Loglevel, res.output)
	}
	if ok {
		return nil
	}
	codes := make([]string, 0, len(e.returns()))
	for _, c := range e.returns() {
		codes = append(codes, strconv.Itoa(c))
	}
	if e.Sensitive {
		return fmt.Errorf("[command redacted] returned %s instead of one of [%s]", res.status(), strings.Join(codes, ","))
	}
	return fmt.Errorf("'%s' returned %s instead of one of [%s]", e.Command, res.status(), strings.Join(codes, ","))
}

func (e *Exec) returns() []int {
	if len(e.Returns) == 0 {
		return []int{0}
	}
	return e.Returns
}

func (e *Exec) allowed(r result) bool {
	if r.signaled {
		return false
	}
	for _, c := range e.returns() {
		if c == r.code {
			return true
		}
	}
	return false
}

// logLines logs the output a line at a time, as Puppet's output.split(/\n/) does.
func (e *Exec) logLines(level engine.Level, output string) {
	if e.Sensitive {
		e.h.PropertyLogf(level, "returns", "%s", "[output redacted]")
		return
	}
	for _, line := range splitLines(output) {
		e.h.PropertyLogf(level, "returns", "%s", line)
	}
}

// redacted is cmd, or with when the exec is sensitive.
func (e *Exec) redacted(cmd, with string) string {
	if e.Sensitive {
		return with
	}
	return cmd
}

// formatReturns prints the returns property's desired value as Puppet's logs do:
// ['0'] or ['0', '2'].
func formatReturns(codes []int) string {
	q := make([]string, len(codes))
	for i, c := range codes {
		q[i] = "'" + strconv.Itoa(c) + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// splitLines is Ruby's String#split(/\n/): trailing empty fields are dropped.
func splitLines(s string) []string {
	lines := strings.Split(s, "\n")
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// result is one finished command.
type result struct {
	output   string
	code     int
	signaled bool // killed by a signal: Ruby's exitstatus is nil
}

// status prints the exit status as Puppet interpolates it (nil prints nothing).
func (r result) status() string {
	if r.signaled {
		return ""
	}
	return strconv.Itoa(r.code)
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errTimeout = errors.New("timeout")

// outputGrace is how long output is still read once the command has exited, for
// children that keep its stdout open (`daemon &`); Puppet reads only what is there.
const outputGrace = 50 * time.Millisecond

// run runs one command (the main one, a check or the refresh command) as the provider
// does: stdin from /dev/null, stdout and stderr into one pipe, its own session, the
// cwd, the user and group, the umask and the environment. It returns errTimeout when
// Timeout passed (the process group is killed).
func (e *Exec) run(ctx context.Context, command string, check bool) (result, error) {
	if e.Provider != "shell" && !e.execute {
		if err := e.checkExe(command); err != nil {
			return result{}, err
		}
	}
	what := ""
	if check {
		what = " check"
	}
	e.h.Logf(engine.Debug, "Executing%s '%s'", what, e.redacted(command, "[redacted]"))

	if e.Cwd != "" {
		if fi, err := os.Stat(e.Cwd); err != nil || !fi.IsDir() {
			return result{}, fmt.Errorf("Working directory %s does not exist!", e.Cwd)
		}
	}
	env := e.environ()
	prog, argv := e.argv(command)
	if !strings.Contains(prog, "/") {
		found, ok := lookPath(prog, envValue(env, "PATH"))
		if !ok {
			return result{}, fmt.Errorf("Could not find command '%s'", prog)
		}
		prog = found
	}
	if e.Umask != "" {
		// The umask is the process's; set it in a shell that then becomes the command,
		// so that concurrent resources keep theirs.
		argv = append([]string{"/bin/sh", "-c", "umask " + e.Umask + ` && exec "$@"`, "sh", prog}, argv[1:]...)
		prog = "/bin/sh"
	}
	attr := &syscall.SysProcAttr{Setsid: true}
	cred, err := e.credential()
	if err != nil {
		return result{}, err
	}
	attr.Credential = cred

	r, w, err := os.Pipe()
	if err != nil {
		return result{}, err
	}
	defer r.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return result{}, err
	}
	stderr := w
	if e.execute {
		stderr = devnull
	}
	proc, err := os.StartProcess(prog, argv, &os.ProcAttr{
		Dir:   e.Cwd,
		Env:   env,
		Files: []*os.File{devnull, w, stderr},
		Sys:   attr,
	})
	devnull.Close()
	w.Close()
	if err != nil {
		return result{}, err
	}

	var out strings.Builder
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(&out, r)
	}()
	type waited struct {
		st  *os.ProcessState
		err error
	}
	done := make(chan waited, 1)
	go func() {
		st, err := proc.Wait()
		done <- waited{st, err}
	}()
	var timeout <-chan time.Time
	if e.Timeout > 0 {
		t := time.NewTimer(e.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var w8 waited
	stopped := true
	select {
	case w8 = <-done:
		stopped = false
	case <-timeout:
		w8.err = errTimeout
	case <-ctx.Done():
		w8.err = ctx.Err()
	}
	if w8.err != nil {
		// Stopped (or Wait failed): kill the whole session and drop the output.
		syscall.Kill(-proc.Pid, syscall.SIGKILL)
		if stopped {
			<-done
		}
		r.SetReadDeadline(time.Now())
		wg.Wait()
		return result{}, w8.err
	}
	st := w8.st
	r.SetReadDeadline(time.Now().Add(outputGrace))
	wg.Wait()

	res := result{output: out.String(), code: st.ExitCode()}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.signaled = true
	}
	if res.code == 127 && !e.execute {
		// The shell's "not found"; Puppet raises the output itself.
		return res, errors.New(res.output)
	}
	return res, nil
}

// argv is how Ruby's Kernel.exec runs the command string: through /bin/sh -c when it
// holds a shell meta character, starts with an assignment or with a shell reserved
// word or special built-in (named "sh" in its argv, as Ruby's execl does: the
// shell's messages say "sh: 1: ..."), else split on spaces and tabs and run
// directly. The shell provider runs /bin/sh -c itself. prog is what to start.
func (e *Exec) argv(command string) (prog string, argv []string) {
	if e.Provider == "shell" {
		return "/bin/sh", []string{"/bin/sh", "-c", command}
	}
	return RubyCommand(command)
}

// RubyCommand is how Ruby's Kernel.exec runs a command string (Exec.argv): prog is
// what to start, argv its arguments.
func RubyCommand(command string) (prog string, argv []string) {
	words := strings.FieldsFunc(command, func(r rune) bool { return r == ' ' || r == '\t' })
	if needsShell(command) || len(words) == 0 {
		return "/bin/sh", []string{"sh", "-c", command}
	}
	return words[0], words
}

// posixShCmds are the words that make Ruby use the shell (process.c posix_sh_cmds).
var posixShCmds = map[string]bool{
	"!": true, ".": true, ":": true, "break": true, "case": true, "continue": true,
	"do": true, "done": true, "elif": true, "else": true, "esac": true, "eval": true,
	"exec": true, "exit": true, "export": true, "fi": true, "for": true, "if": true,
	"in": true, "readonly": true, "return": true, "set": true, "shift": true,
	"then": true, "times": true, "trap": true, "unset": true, "until": true, "while": true,
}

// needsShell is rb_exec_fillarg's test of a command string.
func needsShell(cmd string) bool {
	if strings.ContainsAny(cmd, "*?{}[]<>()~&|\\$;'`\"\n#") {
		return true
	}
	cmd = strings.TrimLeft(cmd, " \t")
	first := cmd
	if i := strings.IndexAny(cmd, " \t"); i >= 0 {
		first = cmd[:i]
	}
	slash, eq := strings.IndexByte(first, '/'), strings.IndexByte(first, '=')
	if eq >= 0 && (slash < 0 || eq < slash) {
		return true
	}
	return slash < 0 && posixShCmds[first]
}

// extractExe is the provider's extractexe: the quoted head of the command, or what
// comes before its first space.
func extractExe(cmd string) string {
	for _, q := range []string{`"`, `'`} {
		if strings.HasPrefix(cmd, q) {
			if end := strings.Index(cmd[1:], q); end > 0 {
				return cmd[1 : 1+end]
			}
		}
	}
	exe, _, _ := strings.Cut(cmd, " ")
	return exe
}

// checkExe is the posix provider's checkexe.
func (e *Exec) checkExe(cmd string) error {
	exe := extractExe(cmd)
	if strings.HasPrefix(exe, "/") && filepath.Clean(exe) == exe {
		fi, err := os.Stat(exe)
		switch {
		case err != nil:
			return fmt.Errorf("Could not find command '%s'", exe)
		case !fi.Mode().IsRegular():
			return fmt.Errorf("'%s' is a %s, not a file", exe, ftype(fi.Mode()))
		case fi.Mode().Perm()&0o111 == 0 || syscall.Access(exe, 1) != nil:
			return fmt.Errorf("'%s' is not executable", exe)
		}
		return nil
	}
	if e.Path != nil {
		if _, ok := lookPath(exe, strings.Join(e.Path, ":")); ok {
			return nil
		}
	}
	return fmt.Errorf("Could not find command '%s'", exe)
}

// ftype is Ruby's File.ftype.
func ftype(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&os.ModeCharDevice != 0:
		return "characterSpecial"
	case m&os.ModeDevice != 0:
		return "blockSpecial"
	case m&os.ModeNamedPipe != 0:
		return "fifo"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeSymlink != 0:
		return "link"
	}
	return "unknown"
}

// lookPath is Puppet's which: the first executable regular file named name in the
// colon-separated list of directories.
func lookPath(name, path string) (string, bool) {
	if strings.HasPrefix(name, "/") {
		return name, isExecutable(name)
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p, err := filepath.Abs(filepath.Join(dir, name))
		if err == nil && isExecutable(p) {
			return p, true
		}
	}
	return "", false
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && syscall.Access(p, 1) == nil
}

// environ is the command's environment: ours without HOME, USER and LOGNAME (Puppet
// drops them), PATH from Path, then the Environment settings.
func (e *Exec) environ() []string {
	custom := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := custom[k]; !ok {
			order = append(order, k)
		}
		custom[k] = v
	}
	if e.Path != nil {
		set("PATH", strings.Join(e.Path, ":"))
	}
	for _, s := range e.Environment {
		m := envSetting.FindStringSubmatch(s)
		if m == nil {
			e.h.Logf(engine.Warning, "Cannot understand environment setting %s", strconv.Quote(s))
			continue
		}
		if _, ok := custom[m[1]]; ok {
			e.h.Logf(engine.Warning, "Overriding environment setting '%s' with '%s'", m[1], m[2])
		}
		if m[2] == "" {
			e.h.Logf(engine.Warning, "Empty environment setting '%s'", m[1])
		}
		set(m[1], m[2])
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || k == "USER" || k == "LOGNAME" {
			continue
		}
		if _, ok := custom[k]; ok {
			continue
		}
		env = append(env, kv)
	}
	for _, k := range order {
		env = append(env, k+"="+custom[k])
	}
	return env
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(env[i], "="); k == key {
			return v
		}
	}
	return ""
}

// credential is the user and group to run as: with no user, the group alone; with a
// user and no group, the user's primary group; with a user, its supplementary groups.
// Only root can change them; otherwise a user other than ours is an error and a group
// is ignored.
func (e *Exec) credential() (*syscall.Credential, error) {
	if e.User == "" && e.Group == "" {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		if e.User != "" {
			if u, err := lookupUser(e.User); err != nil || u.Uid != strconv.Itoa(os.Geteuid()) {
				return nil, errors.New("Only root can execute commands as other users")
			}
		}
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), NoSetGroups: true}
	var u *user.User
	if e.User != "" {
		var err error
		if u, err = lookupUser(e.User); err != nil {
			return nil, fmt.Errorf("No such user %s", e.User)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		cred.Uid = uint32(uid)
		cred.NoSetGroups = false
		ids, _ := u.GroupIds()
		for _, id := range ids {
			if n, err := strconv.ParseUint(id, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	switch {
	case e.Group != "":
		g, err := user.LookupGroup(e.Group)
		if err != nil {
			if g, err = user.LookupGroupId(e.Group); err != nil {
				return nil, fmt.Errorf("No such group %s", e.Group)
			}
		}
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		cred.Gid = uint32(gid)
	default:
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Gid = uint32(gid)
	}
	return cred, nil
}

func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err == nil {
		return u, nil
	}
	if _, nerr := strconv.Atoi(name); nerr == nil {
		return user.LookupId(name)
	}
	return nil, err
}
