package footprint

import (
	"fmt"
	"path"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Command returns the footprint of a shell command line run in directory cwd ("" when
// unknown) with the variables env set: what the commands it runs read and write,
// when every one of them is a program whose effect is known and every word is
// literal or one of env's variables. Anything else (a program not listed here,
// another variable, a command substitution, a function) makes it Everything, with
// the reason.
func Command(line, cwd string, env map[string]string) Footprint {
	f, err := parseCommand(line)
	if err != nil {
		return Everything(fmt.Sprintf("command %q: %v", line, err))
	}
	a := &analysis{cwd: cwd, env: env}
	a.stmts(f.Stmts)
	if a.unknown != "" {
		return Everything(a.unknown)
	}
	return Footprint{Accesses: a.accesses}
}

func parseCommand(line string) (*syntax.File, error) {
	return syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(line), "")
}

// analysis collects the accesses of a command line; unknown is set once something
// cannot be known.
type analysis struct {
	cwd      string
	env      map[string]string
	accesses []Access
	unknown  string
}

func (a *analysis) fail(format string, args ...any) {
	if a.unknown == "" {
		a.unknown = fmt.Sprintf(format, args...)
	}
}

func (a *analysis) add(acc Access) { a.accesses = append(a.accesses, acc) }

func (a *analysis) stmts(list []*syntax.Stmt) {
	for _, s := range list {
		a.stmt(s)
	}
}

func (a *analysis) stmt(s *syntax.Stmt) {
	for _, r := range s.Redirs {
		a.redirect(r)
	}
	if s.Cmd == nil {
		return
	}
	switch c := s.Cmd.(type) {
	case *syntax.CallExpr:
		a.call(c)
	case *syntax.BinaryCmd:
		a.stmt(c.X)
		a.stmt(c.Y)
	case *syntax.Block:
		a.stmts(c.Stmts)
	case *syntax.Subshell:
		a.stmts(c.Stmts)
	case *syntax.IfClause:
		for ic := c; ic != nil; ic = ic.Else {
			a.stmts(ic.Cond)
			a.stmts(ic.Then)
		}
	case *syntax.WhileClause:
		a.stmts(c.Cond)
		a.stmts(c.Do)
	default:
		a.fail("%s is not analysed", describeCommand(c))
	}
}

func describeCommand(c syntax.Command) string {
	switch c.(type) {
	case *syntax.FuncDecl:
		a := "a function"
		return a
	case *syntax.ForClause:
		return "a for loop"
	case *syntax.CaseClause:
		return "a case statement"
	}
	return fmt.Sprintf("%T", c)
}

// redirect: output goes to a file, input comes from one.
func (a *analysis) redirect(r *syntax.Redirect) {
	switch r.Op {
	case syntax.DplIn, syntax.DplOut:
		return // >&2
	case syntax.Hdoc, syntax.DashHdoc:
		if r.Hdoc != nil {
			if _, ok := a.literal(r.Hdoc); !ok {
				a.fail("a here-document with expansions")
			}
		}
		return
	case syntax.WordHdoc:
		if _, ok := a.literal(r.Word); !ok {
			a.fail("a here-string with expansions")
		}
		return
	}
	target, ok := a.literal(r.Word)
	if !ok {
		a.fail("redirection to %s", wordString(r.Word))
		return
	}
	write := r.Op != syntax.RdrIn
	switch target {
	case "/dev/null", "/dev/stdout", "/dev/stderr", "/dev/zero":
		return
	}
	a.path(target, write, false)
}

// path records an access to p, a path argument: absolute as it is, relative under
// cwd. tree says whether the command may act below it (rm -r).
func (a *analysis) path(p string, write, tree bool) {
	if hasGlob(p) {
		// The directory before the first pattern, and all under it.
		p, tree = globPrefix(p), true
	}
	if !strings.HasPrefix(p, "/") {
		if a.cwd == "" || !strings.HasPrefix(a.cwd, "/") {
			if write {
				a.fail("relative path %q without cwd", p)
				return
			}
			a.add(ReadsEverything)
			return
		}
		p = path.Join(a.cwd, p)
	}
	if tree {
		a.add(Tree(p, write))
	} else {
		a.add(Path(p, write))
	}
}

// builtins are the shell's own commands: no program is looked up for them.
var builtins = map[string]bool{"cd": true, "exit": true, ":": true, "true": true, "false": true,
	"echo": true, "printf": true, "test": true, "[": true}

// programs maps a program's base name to what it does with its arguments.
var programs = map[string]program{}

// program is how a known program acts on its arguments.
type program struct {
	// args: what the arguments are.
	args argKind
	// skip is how many leading operands are not paths (chmod's mode).
	skip int
	// valued lists options that take the next argument as their value.
	valued string
	// extra are accesses the program always makes.
	extra []Access
	// special analyses the whole call instead (systemctl, sh -c).
	special func(a *analysis, args []string)
}

type argKind uint8

const (
	argsNone  argKind = iota // no argument is a file (sleep 2, echo hi)
	argsRead                 // path arguments are read (test -f /x, grep re /x)
	argsWrite                // path arguments, and everything under them, may be changed (rm -rf /x)
)

func init() {
	for _, p := range strings.Fields("true false sleep echo printf date uname whoami nproc seq expr basename dirname :") {
		programs[p] = program{args: argsNone}
	}
	for _, p := range strings.Fields("test [ cat grep egrep fgrep zgrep cmp diff stat ls head tail wc md5sum sha1sum sha256sum sha512sum readlink realpath file du") {
		programs[p] = program{args: argsRead}
	}
	programs["grep"] = program{args: argsRead, valued: "-m -A -B -C --max-count"}
	programs["egrep"], programs["fgrep"], programs["zgrep"] = programs["grep"], programs["grep"], programs["grep"]
	programs["sed"] = program{args: argsWrite, valued: "-l --line-length"}
	programs["which"] = program{special: func(a *analysis, args []string) {
		for _, s := range args {
			if !strings.HasPrefix(s, "-") {
				a.program(s)
			}
		}
	}}
	programs["cd"] = program{special: (*analysis).cd}
	programs["exit"] = program{args: argsNone}
	programs["getent"] = program{args: argsNone, extra: []Access{Tree("/etc", false)}}
	programs["id"] = programs["getent"]
	programs["dpkg-query"] = program{args: argsNone, extra: []Access{Tree("/var/lib/dpkg", false)}}
	programs["pgrep"] = program{args: argsNone, extra: []Access{Name("systemd", "/", true, false)}}
	programs["pidof"] = programs["pgrep"]
	for _, p := range strings.Fields("rm rmdir touch cp mv ln tee truncate unlink") {
		programs[p] = program{args: argsWrite}
	}
	programs["mkdir"] = program{args: argsWrite, valued: "-m --mode"}
	programs["install"] = program{args: argsWrite, valued: "-m --mode -o --owner -g --group -t --target-directory -S --suffix"}
	programs["chmod"] = program{args: argsWrite, skip: 1}
	programs["chown"] = program{args: argsWrite, skip: 1}
	programs["chgrp"] = program{args: argsWrite, skip: 1}
	programs["systemctl"] = program{special: (*analysis).systemctl}
	for _, sh := range []string{"sh", "dash", "bash"} {
		programs[sh] = program{special: (*analysis).shell}
	}
}

func (a *analysis) call(c *syntax.CallExpr) {
	for _, as := range c.Assigns {
		if as.Value != nil {
			if _, ok := a.literal(as.Value); !ok {
				a.fail("assignment %s=%s", as.Name.Value, wordString(as.Value))
				return
			}
		}
	}
	if len(c.Args) == 0 {
		return
	}
	args := make([]string, len(c.Args))
	for i, w := range c.Args {
		s, ok := a.literal(w)
		if !ok {
			a.fail("argument %s", wordString(w))
			return
		}
		args[i] = s
	}
	name := path.Base(args[0])
	p, ok := programs[name]
	if !ok {
		a.fail("command %s is not known", name)
		return
	}
	if !builtins[name] || strings.Contains(args[0], "/") {
		a.program(args[0])
	}
	a.accesses = append(a.accesses, p.extra...)
	if p.special != nil {
		p.special(a, args[1:])
		return
	}
	if p.args == argsNone {
		return
	}
	a.operands(name, p, args[1:])
}

// operands records the path operands of a call to a known program.
func (a *analysis) operands(name string, p program, args []string) {
	write := p.args == argsWrite
	skip := p.skip
	valued := strings.Fields(p.valued)
	scripted := name == "sed" || strings.HasSuffix(name, "grep")
	if scripted {
		skip = 1 // the script or pattern, unless an -e or -f gives it
	}
	endOfOptions := false
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !endOfOptions && strings.HasPrefix(arg, "-") && arg != "-" {
			switch {
			case arg == "--":
				endOfOptions = true
			case scripted && (arg == "-e" || arg == "-f" || arg == "--expression" || arg == "--file"):
				skip = 0
				if arg == "-f" || arg == "--file" {
					if i+1 < len(args) {
						a.path(args[i+1], false, false)
					}
				}
				i++
			case contains(valued, arg):
				i++ // its value
			default:
				if _, v, ok := strings.Cut(arg, "="); ok && strings.HasPrefix(v, "/") {
					a.path(v, write, write)
				}
			}
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if name == "test" || name == "[" {
			switch arg {
			case "]", "=", "!=", "!", "(", ")":
				continue
			}
		}
		a.path(arg, write, write)
	}
}

// searchPath is where a program named without a slash is looked for: Puppet's
// exec has no default path, so commands name their path or set one, and Debian's is
// this.
var searchPath = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// program records the lookup of a program: a package installed or removed earlier
// may change what runs.
func (a *analysis) program(name string) {
	if strings.Contains(name, "/") {
		a.path(name, false, false)
		return
	}
	for _, d := range searchPath {
		a.add(Path(d+"/"+name, false))
	}
}

// cd changes the directory of the relative paths after it.
func (a *analysis) cd(args []string) {
	if len(args) != 1 || !strings.HasPrefix(args[0], "/") {
		a.fail("cd to %q", strings.Join(args, " "))
		return
	}
	a.cwd = args[0]
}

// systemctl: queries read systemd's state; actions change it and start programs
// that may read anything.
func (a *analysis) systemctl(args []string) {
	verb := ""
	for _, s := range args {
		if !strings.HasPrefix(s, "-") {
			verb = s
			break
		}
	}
	switch verb {
	case "is-active", "is-enabled", "is-failed", "status", "show", "cat", "list-units", "list-unit-files", "is-system-running":
		a.add(Name("systemd", "/", true, false))
		a.add(Tree("/etc/systemd", false))
	case "start", "stop", "restart", "reload", "try-restart", "reload-or-restart", "daemon-reload",
		"enable", "disable", "mask", "unmask", "reenable":
		a.add(ReadsEverything)
		a.add(Name("systemd", "/", true, true))
		a.add(Tree("/etc/systemd", true))
	default:
		a.fail("systemctl %s is not known", verb)
	}
}

// shell: sh -c SCRIPT is analysed as SCRIPT; a script file is not known.
func (a *analysis) shell(args []string) {
	for i, s := range args {
		if s == "-c" && i+1 < len(args) {
			f, err := parseCommand(args[i+1])
			if err != nil {
				a.fail("sh -c %q: %v", args[i+1], err)
				return
			}
			a.stmts(f.Stmts)
			return
		}
		if s == "-e" || s == "-x" || s == "-ex" || s == "-xe" || s == "-eu" || s == "-u" {
			continue
		}
		break
	}
	a.fail("a shell running a script file")
}

// literal returns the value of a word without expansions but those of the variables
// of env: plain, single- or double-quoted text. Globs stay in the value.
func (a *analysis) literal(w *syntax.Word) (string, bool) {
	if w == nil {
		return "", true
	}
	var b strings.Builder
	for _, p := range w.Parts {
		switch x := p.(type) {
		case *syntax.Lit:
			b.WriteString(x.Value)
		case *syntax.SglQuoted:
			if x.Dollar {
				return "", false
			}
			b.WriteString(x.Value)
		case *syntax.DblQuoted:
			for _, q := range x.Parts {
				switch y := q.(type) {
				case *syntax.Lit:
					b.WriteString(y.Value)
				case *syntax.ParamExp:
					v, ok := a.variable(y)
					if !ok {
						return "", false
					}
					b.WriteString(v)
				default:
					return "", false
				}
			}
		case *syntax.ParamExp:
			v, ok := a.variable(x)
			if !ok || strings.ContainsAny(v, " \t\n") {
				return "", false // unquoted: split into several words
			}
			b.WriteString(v)
		default:
			return "", false
		}
	}
	return b.String(), true
}

// variable is the value of $NAME or ${NAME} when env sets NAME.
func (a *analysis) variable(p *syntax.ParamExp) (string, bool) {
	if p.Param == nil || p.Excl || p.Length || p.Width || p.Index != nil || p.Slice != nil || p.Repl != nil || p.Exp != nil || p.Names != 0 {
		return "", false
	}
	v, ok := a.env[p.Param.Value]
	return v, ok
}

func wordString(w *syntax.Word) string {
	var b strings.Builder
	if err := syntax.NewPrinter().Print(&b, w); err != nil {
		return "(a word)"
	}
	return b.String()
}

func hasGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

// globPrefix is the directory of p before its first pattern character.
func globPrefix(p string) string {
	i := strings.IndexAny(p, "*?[")
	dir := path.Dir(p[:i] + "x")
	return dir
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
