package footprint

import (
	"strings"
	"testing"
)

func TestCommand(t *testing.T) {
	bin := func(name string) string {
		var s []string
		for _, d := range searchPath {
			s = append(s, "reads "+d+"/"+name)
		}
		return strings.Join(s, ", ")
	}
	for _, tc := range []struct {
		line, cwd string
		env       map[string]string
		want      string // accesses joined by ", ", or "everything: " + why
	}{
		// apache::mpm::disable_mpm_event, the case.
		{line: "/bin/rm /etc/apache2/mods-enabled/mpm_event.conf", want: "reads /bin/rm, writes /etc/apache2/mods-enabled/mpm_event.conf/**"},
		{line: "test -e /etc/apache2/mods-enabled/mpm_event.conf", want: "reads /etc/apache2/mods-enabled/mpm_event.conf"},
		{line: "/usr/bin/test -e /x", want: "reads /usr/bin/test, reads /x"},
		{line: "[ -d /var/www ] && [ ! -L /var/www ]", want: "reads /var/www, reads /var/www"},
		{line: "/bin/sleep 2", want: "reads /bin/sleep"},
		{line: "sleep 2", want: bin("sleep")},
		{line: "echo hi > /tmp/x/out", want: "writes /tmp/x/out"},
		{line: "echo hi >> out 2>&1", cwd: "/srv", want: "writes /srv/out"},
		{line: "echo hi > out", want: "everything: relative path \"out\" without cwd"},
		{line: "echo hi >/dev/null", want: ""},
		{line: "/bin/sh -c 'touch /a && rm -rf /b/*'", want: "reads /bin/sh, reads /usr/local/sbin/touch, reads /usr/local/bin/touch, reads /usr/sbin/touch, reads /usr/bin/touch, reads /sbin/touch, reads /bin/touch, writes /a/**, reads /usr/local/sbin/rm, reads /usr/local/bin/rm, reads /usr/sbin/rm, reads /usr/bin/rm, reads /sbin/rm, reads /bin/rm, writes /b/**"},
		{line: "/bin/chmod 0644 /etc/x", want: "reads /bin/chmod, writes /etc/x/**"},
		{line: "/usr/bin/install -m 0755 -o root /src /dst", want: "reads /usr/bin/install, writes /src/**, writes /dst/**"},
		{line: "/bin/grep -q 'Listen 80' /etc/apache2/ports.conf", want: "reads /bin/grep, reads /etc/apache2/ports.conf"},
		{line: "/bin/grep -e foo -e bar /x", want: "reads /bin/grep, reads /x"},
		{line: "/bin/sed -i -e 's/a/b/' /etc/x", want: "reads /bin/sed, writes /etc/x/**"},
		{line: "/bin/sed -i s/a/b/ /etc/x", want: "reads /bin/sed, writes /etc/x/**"},
		{line: "/bin/systemctl daemon-reload", want: "reads /bin/systemctl, reads everything, writes systemd:/**, writes /etc/systemd/**"},
		{line: "/bin/systemctl is-active ssh", want: "reads /bin/systemctl, reads systemd:/**, reads /etc/systemd/**"},
		{line: "cd /srv && touch f", want: bin("touch") + ", writes /srv/f/**"},
		{line: "/usr/sbin/a2enmod ssl", want: "everything: command a2enmod is not known"},
		{line: "/usr/bin/apt-get update", want: "everything: command apt-get is not known"},
		{line: "rm -rf $DIR", want: "everything: argument $DIR"},
		{line: "echo \"$GREETING\" > /out", env: map[string]string{"GREETING": "hello world"}, want: "writes /out"},
		{line: "/bin/rm -rf ${DIR}/x", env: map[string]string{"DIR": "/srv"}, want: "reads /bin/rm, writes /srv/x/**"},
		{line: "/bin/rm -rf $DIR", env: map[string]string{"DIR": "/a /b"}, want: "everything: argument $DIR"},
		{line: "echo $(cat /x) > /y", want: "everything: argument $(cat /x)"},
		{line: "for f in /a /b; do rm $f; done", want: "everything: a for loop is not analysed"},
		{line: "/bin/sh /usr/local/bin/setup.sh", want: "everything: a shell running a script file"},
		{line: "if [ -f /x ]; then rm /x; fi", want: "reads /x, " + bin("rm") + ", writes /x/**"},
		{line: "'unterminated", want: "everything: command \"'unterminated\": 1:1: reached EOF without closing quote `'`"},
	} {
		gotS := Command(tc.line, tc.cwd, tc.env).String()
		if gotS != tc.want {
			t.Errorf("Command(%q, %q):\n got %s\nwant %s", tc.line, tc.cwd, gotS, tc.want)
		}
	}
}
