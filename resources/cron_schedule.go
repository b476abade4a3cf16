package resources

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The values of cron_core's Cron type as its munging and validation leave them
// (lib/puppet/type/cron.rb): what the catalog says becomes what the crontab holds.

// CronTimeFields are the five time fields in the order of a crontab line.
var CronTimeFields = [5]string{"minute", "hour", "monthday", "month", "weekday"}

// cronPropertyOrder is the order Puppet checks (and logs) a cron job's properties:
// the order the type defines them.
var cronPropertyOrder = []string{"command", "special", "minute", "hour", "weekday", "month", "monthday", "environment"}

// cronBounds are each time field's limits for plain numbers.
var cronBounds = map[string][2]int{
	"minute": {0, 59}, "hour": {0, 23}, "monthday": {1, 31}, "month": {1, 12}, "weekday": {0, 7},
}

// cronNames are the names weekday and month accept, at their number's index
// (month's index 0 is Puppet's placeholder, so that January is 1).
var cronNames = map[string][]string{
	"weekday": {"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"},
	"month": {"___placeholder", "january", "february", "march", "april", "may", "june", "july",
		"august", "september", "october", "november", "december"},
}

// CronSpecials are the values of special; absent means a numeric schedule.
var CronSpecials = []string{"reboot", "yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly"}

var (
	cronStep       = regexp.MustCompile(`^\*/[0-9]+$`)
	cronRange      = regexp.MustCompile(`^[0-9]+-[0-9]+$`)
	cronRangeStep  = regexp.MustCompile(`^[0-9]+-[0-9]+/[0-9]+$`)
	cronDigits     = regexp.MustCompile(`^[0-9]+$`)
	cronEnvSetting = regexp.MustCompile(`^[ \t\n\v\f\r]*(\w+)[ \t\n\v\f\r]*=`)
)

// CronValue is one value given to a time field in the catalog: its text, and
// whether it was a number (Puppet checks numbers and strings alike, but prints
// them differently in its messages).
type CronValue struct {
	Text   string
	Number bool
}

// MungeCronField is Puppet's munging of one value of a time field ("minute",
// "hour", "monthday", "month", "weekday"): steps (*/5) and ranges (1-5, 1-5/2)
// pass as they are, '*' and 'absent' mean absent, numbers must be within the
// field's bounds and keep their spelling ("05" stays "05"), and weekday and month
// names, whole or their first three letters in any case, become their number.
// The error is Puppet's message.
func MungeCronField(field string, v CronValue) (value string, absent bool, err error) {
	s := v.Text
	switch {
	case !v.Number && s == "absent":
		return "", true, nil
	case cronStep.MatchString(s), cronRange.MatchString(s), cronRangeStep.MatchString(s):
		return s, false, nil
	case s == "*":
		return "", true, nil
	}
	bounds, ok := cronBounds[field]
	if !ok {
		return "", false, fmt.Errorf("%s is not a cron time field", field)
	}
	if v.Number || cronDigits.MatchString(s) {
		if n, err := strconv.Atoi(s); err == nil && n >= bounds[0] && n <= bounds[1] {
			return s, false, nil
		}
	} else if names, ok := cronNames[field]; ok {
		lower := strings.ToLower(s)
		if utf8.RuneCountInString(lower) == 3 {
			for i, name := range names {
				if strings.EqualFold(lower, name[:3]) {
					return strconv.Itoa(i), false, nil
				}
			}
		} else {
			for i, name := range names {
				if lower == name {
					return strconv.Itoa(i), false, nil
				}
			}
		}
	}
	shown := s
	if !v.Number {
		shown = cronInspect(s)
	}
	return "", false, fmt.Errorf("Munging failed for value %s in class %s: %s is not a valid %s", shown, field, s, field)
}

// MungeCronFieldList munges the values given to a time field; when the first one
// is absent the whole field is absent (an empty list), which crontab prints as '*'.
// A later absent stays in the list as the word absent, as Puppet writes it.
func MungeCronFieldList(field string, vs []CronValue) ([]string, error) {
	out := []string{}
	for i, v := range vs {
		s, absent, err := MungeCronField(field, v)
		if err != nil {
			return nil, err
		}
		switch {
		case absent && i == 0:
			return []string{}, nil
		case absent:
			s = "absent"
		}
		out = append(out, s)
	}
	return out, nil
}

// ValidCronSpecial checks a value of special ("daily", or "absent").
func ValidCronSpecial(s string) error {
	if s == "absent" {
		return nil
	}
	for _, sp := range CronSpecials {
		if s == sp {
			return nil
		}
	}
	return fmt.Errorf("Invalid special schedule %s", cronInspect(s))
}

// ValidCronEnvironment checks one environment line (NAME=VALUE, or absent).
func ValidCronEnvironment(s string) error {
	if s == "absent" || cronEnvSetting.MatchString(s) {
		return nil
	}
	return fmt.Errorf("Invalid environment setting %s", cronInspect(s))
}

// cronInspect prints a string as Ruby's String#inspect does, near enough for
// messages: double-quoted with Go's escapes.
func cronInspect(s string) string { return strconv.Quote(s) }
