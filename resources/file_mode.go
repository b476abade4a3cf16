package resources

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Puppet's mode syntax (lib/puppet/util/symbolic_file_mode.rb): octal with up to four
// digits after an optional 0, or comma-separated symbolic clauses.
var symbolicMode = regexp.MustCompile(`^([ugoa]*[-=+][-=+rstwxXugo]*)(,[ugoa]*[-=+][-=+rstwxXugo]*)*$`)

// numericMode reports whether s matches /^0?[0-7]{1,4}$/, without the regular
// expression: every File's check asks it.
func numericMode(s string) bool {
	if len(s) == 5 && s[0] == '0' {
		s = s[1:]
	}
	if len(s) < 1 || len(s) > 4 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// octal4 prints bits as %04o does.
func octal4(bits uint32) string {
	if bits > 0o7777 {
		return fmt.Sprintf("%04o", bits)
	}
	return string([]byte{'0' + byte(bits>>9&7), '0' + byte(bits>>6&7), '0' + byte(bits>>3&7), '0' + byte(bits&7)})
}

// ValidFileMode checks a File mode the way Puppet validates it, including the
// operations a symbolic mode may use.
func ValidFileMode(s string) error {
	if numericMode(s) {
		return nil
	}
	if !symbolicMode.MatchString(s) {
		return fmt.Errorf("The file mode specification is invalid: %q", s)
	}
	_, err := symbolicToBits(s, 0o644, false)
	return err
}

// desiredMode is the permission bits mode s asks for, given the current bits (symbolic
// modes are relative) and whether the file is a directory (numeric modes then get
// search bits where they have read bits, as Puppet's dirmask does). display is the
// value as Puppet prints it: four octal digits, or the symbolic text.
func desiredMode(s string, current uint32, isDir bool) (bits uint32, display string, err error) {
	if numericMode(s) {
		v, _ := strconv.ParseUint(s, 8, 32)
		bits = uint32(v)
		if isDir {
			bits = dirmask(bits)
		}
		return bits, octal4(bits), nil
	}
	bits, err = symbolicToBits(s, current, isDir)
	return bits, s, err
}

// dirmask adds search bits where read bits are set.
func dirmask(m uint32) uint32 {
	if m&0o400 != 0 {
		m |= 0o100
	}
	if m&0o040 != 0 {
		m |= 0o010
	}
	if m&0o004 != 0 {
		m |= 0o001
	}
	return m
}

// symbolicToBits applies a symbolic mode to current, as Puppet's symbolic_mode_to_int
// does (including its quirks: '=' clears then ORs, X only with '+', 'o+s' is sticky).
func symbolicToBits(mod string, current uint32, isDir bool) (uint32, error) {
	final := map[byte]uint32{
		's': (current & 0o7000) >> 9,
		'u': (current & 0o700) >> 6,
		'g': (current & 0o070) >> 3,
		'o': current & 0o007,
	}
	anyX := current&0o111 != 0
	perm := map[byte]uint32{'r': 4, 'w': 2, 'x': 1}
	special := map[byte]map[byte]uint32{
		't': {'u': 1, 'g': 1, 'o': 1},
		's': {'u': 4, 'g': 2, 'o': 1},
	}
	for _, part := range strings.Split(mod, ",") {
		part = strings.TrimSpace(part)
		i := strings.IndexAny(part, "-+=")
		if i < 0 {
			return 0, fmt.Errorf("missing action at %q in symbolic mode %q", part, mod)
		}
		who, dsl := part[:i], part[i:]
		if who == "" {
			who = "a"
		}
		who = strings.ReplaceAll(who, "a", "ugo")
		snapshot := map[byte]uint32{}
		for k, v := range final {
			snapshot[k] = v
		}
		done := map[byte]bool{}
		for j := 0; j < len(who); j++ {
			w := who[j]
			if done[w] {
				continue
			}
			done[w] = true
			value := snapshot[w]
			action := byte(0)
			apply := func(m, v uint32) uint32 {
				if action == '-' {
					return m &^ v
				}
				return m | v
			}
			for k := 0; k < len(dsl); k++ {
				op := dsl[k]
				switch {
				case op == '-' || op == '+' || op == '=':
					action = op
					if op == '=' {
						value = 0
					}
				case op == 'u' || op == 'g' || op == 'o':
					value = apply(value, snapshot[op])
				case perm[op] != 0:
					value = apply(value, perm[op])
				case op == 'X':
					if action != '+' {
						return 0, fmt.Errorf("X only works with the '+' operator at %q in symbolic mode %q", part, mod)
					}
					if isDir || anyX {
						value = apply(value, 1)
					}
				case op == 's' || op == 't':
					final['s'] = apply(final['s'], special[op][w])
				default:
					return 0, fmt.Errorf("unknown operation at %q in symbolic mode %q", part, mod)
				}
			}
			final[w] = value
		}
	}
	return final['s']<<9 | final['u']<<6 | final['g']<<3 | final['o'], nil
}
