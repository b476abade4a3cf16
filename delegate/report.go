package delegate

import (
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// report is what a run's last_run_report.yaml says, as far as delegation needs it.
type report struct {
	Logs     []logLine          `yaml:"logs"`
	Statuses map[string]*status `yaml:"resource_statuses"`
}

type logLine struct {
	Level   string `yaml:"level"`
	Message string `yaml:"message"`
	Source  string `yaml:"source"`
}

type status struct {
	Containment     []string `yaml:"containment_path"`
	Failed          bool     `yaml:"failed"`
	FailedToRestart bool     `yaml:"failed_to_restart"`
	Skipped         bool     `yaml:"skipped"`
	Changed         bool     `yaml:"changed"`
	OutOfSync       bool     `yaml:"out_of_sync"`
	Events          []event  `yaml:"events"`
}

type event struct {
	Property string `yaml:"property"`
	Previous any    `yaml:"previous_value"`
	Desired  any    `yaml:"desired_value"`
	Status   string `yaml:"status"`
	Message  string `yaml:"message"`
	Name     string `yaml:"name"`
}

// path is the resource's log path: "/Stage[main]/Main/Host[x]".
func (s *status) path() string { return "/" + strings.Join(s.Containment, "/") }

func readReport(r io.Reader) (*report, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var rep report
	if err := yaml.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("reading Puppet's report: %w", err)
	}
	if rep.Statuses == nil {
		return nil, fmt.Errorf("reading Puppet's report: no resource_statuses")
	}
	return &rep, nil
}
