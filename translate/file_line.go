package translate

import (
	"strings"

	"github.com/mgmt-puppet/mgmt-puppet/engine"
	"github.com/mgmt-puppet/mgmt-puppet/resources"
)

// stdlib's file_line: one line in a file. It autorequires the file, when managed.
func init() {
	register("File_line", Native{
		Namevar: "name",
		Build:   buildFileLine,
		Autorequire: func(p *Params) [][]Ref {
			v, _ := p.Raw("path")
			if s, ok := v.(string); ok && s != "" {
				return [][]Ref{{{"File", canonicalPath(s)}}}
			}
			return nil
		},
		Redactable: []string{"ensure"},
	})
}

func buildFileLine(p *Params) engine.Resource {
	p.Namevar("name")
	l := &resources.FileLine{Path: p.String("path", "")}
	if l.Path == "" {
		p.Errorf("path", "path is a required attribute")
	}
	l.Absent = ensureAbsent(p)
	l.Line = p.String("line", "")
	l.Match = p.String("match", "")
	l.After = p.String("after", "")
	l.MatchForAbsence = p.Bool("match_for_absence", false)
	l.Multiple = p.Bool("multiple", false)
	l.Replace = p.Bool("replace", true)
	l.ReplaceAllNotMatching = p.Bool("replace_all_matches_not_matching_line", false)
	l.AppendOnNoMatch = p.Bool("append_on_no_match", true)
	// Files are read and written as bytes; UTF-8 (the default) is what that means.
	if enc := p.String("encoding", "UTF-8"); !strings.EqualFold(enc, "UTF-8") {
		p.Unsupportedf("encoding", "%s", enc)
	}
	return l
}
