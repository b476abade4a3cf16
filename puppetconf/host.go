package puppetconf

import (
	"net"
	"os"
	"os/user"
	"regexp"
	"strings"
	"syscall"
)

// host is what Load needs to know of the machine; tests give their own.
type host struct {
	home          func() (string, error)                      // for ~ and the non-root defaults
	cwd           func() (string, error)                      // for relative paths
	names         func() (hostname, domain string, err error) // Facter's hostname and domain facts
	ownsSystemSSL func() bool                                 // whether this process owns /var/lib/puppet/ssl
}

func realHost() host {
	return host{
		home: func() (string, error) {
			if h, err := os.UserHomeDir(); err == nil {
				return h, nil
			}
			u, err := user.Current() // as Ruby does when HOME is unset
			if err != nil {
				return "", err
			}
			return u.HomeDir, nil
		},
		cwd: os.Getwd,
		names: func() (string, string, error) {
			h, err := os.Hostname()
			if err != nil {
				return "", "", err
			}
			conf, _ := os.ReadFile("/etc/resolv.conf") // Facter reads it "safely" too
			name, domain := hostNames(h, net.LookupCNAME, conf)
			return name, domain, nil
		},
		ownsSystemSSL: func() bool { // Ruby's File.owned?
			fi, err := os.Stat(systemSSLDir)
			if err != nil {
				return false
			}
			st, ok := fi.Sys().(*syscall.Stat_t)
			return ok && int(st.Uid) == os.Geteuid()
		},
	}
}

var (
	resolvDomain = regexp.MustCompile(`(?m)^domain\s+(\S+)`)
	resolvSearch = regexp.MustCompile(`(?m)^search\s+(\S+)`)
)

// askedOnce is names asking the host once, whoever asks again.
func askedOnce(names func() (string, string, error)) func() (string, string, error) {
	var (
		asked        bool
		name, domain string
		err          error
	)
	return func() (string, string, error) {
		if !asked {
			asked = true
			name, domain, err = names()
		}
		return name, domain, err
	}
}

// hostNames are Facter's hostname and domain facts, as Facter 4 on Linux finds
// them (resolvers/linux/hostname.rb): the host name up to its first dot and the
// domain after it; for a name without a domain, the domain of its canonical name
// (getaddrinfo's AI_CANONNAME there, net.LookupCNAME here: /etc/hosts, then DNS)
// when that starts with the name and a dot, else resolv.conf's domain, else the
// first of its search domains.
func hostNames(hostname string, canonical func(string) (string, error), resolvConf []byte) (name, domain string) {
	name, domain = splitFQDN(hostname)
	if domain == "" && name != "" {
		if fqdn, err := canonical(name); err == nil {
			fqdn = strings.TrimSuffix(fqdn, ".")
			if strings.HasPrefix(fqdn, name+".") {
				_, domain = splitFQDN(fqdn)
			}
		}
	}
	if domain == "" {
		if m := resolvDomain.FindSubmatch(resolvConf); m != nil {
			domain = string(m[1])
		} else if m := resolvSearch.FindSubmatch(resolvConf); m != nil {
			domain = string(m[1])
		}
	}
	return name, strings.TrimSuffix(domain, ".")
}

// defaultCertname is Puppet's default certname: Facter's hostname and domain
// facts joined and lowercased (Puppet::Settings.default_certname).
func defaultCertname(name, domain string) string {
	if domain != "" {
		name += "." + domain
	}
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// splitFQDN splits at the first dot that has something after it, as Facter's
// /(.*?)\.(.+$)/ does.
func splitFQDN(s string) (name, domain string) {
	if i := strings.IndexByte(s, '.'); i >= 0 && i < len(s)-1 {
		return s[:i], s[i+1:]
	}
	return s, ""
}
