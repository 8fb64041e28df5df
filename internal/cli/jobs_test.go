package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/berth-dev/berth/client"
)

func TestJobsRunUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"jobs", "run"}, exitUsage, "run takes the job's NAME; got none"},
		{[]string{"jobs", "run", "--", "x"}, exitUsage, "run takes the job's NAME; got none"},
		{[]string{"jobs", "run", "ci", "x"}, exitUsage, `put the job's arguments after "--"`},
		{[]string{"jobs", "run", "ci", "--env", "A"}, exitFailure, `--env "A": must be NAME=VALUE`},
		{[]string{"jobs", "run", "ci", "--env", "BERTH_X=1"}, exitFailure, `--env "BERTH_X=1": is reserved`},
		{[]string{"jobs", "ls", "--limit", "-1"}, exitFailure, "--limit -1: allowed: 0 (all) or a positive number"},
		{[]string{"jobs", "ls", "-o", "yaml"}, exitFailure, `--output (-o) "yaml" is not a format; allowed: table, json`},
		{[]string{"jobs", "status"}, exitUsage, "status takes one argument, ID"},
	} {
		r := runCLI(t, map[string]string{"BERTH_TOKEN": goodToken, "BERTH_API": "http://127.0.0.1:1"}, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("berth %s: exit %d, stderr %q; want exit %d and %q", strings.Join(c.args, " "), r.code, r.stderr, c.code, c.msg)
		}
	}
}

func TestExecutionResult(t *testing.T) {
	attempts := func(n int) []client.Attempt { return make([]client.Attempt, n) }
	for _, c := range []struct {
		ex   client.Execution
		code int
		msg  string
	}{
		{client.Execution{ID: "x", Status: "succeeded", Reason: "exit", Attempts: attempts(1)}, 0, ""},
		{client.Execution{ID: "x", Status: "failed", Reason: "exit", ExitCode: 7, Attempts: attempts(3)}, 7, "execution x failed with exit code 7 after 3 attempts"},
		{client.Execution{ID: "x", Status: "failed", Reason: "exit", ExitCode: 300, Attempts: attempts(1)}, 1, "failed (exit) after 1 attempt"},
		{client.Execution{ID: "x", Status: "failed", Reason: "timeout", ExitCode: 137, Attempts: attempts(1)}, 1, "failed: timed out after 1 attempt"},
		{client.Execution{ID: "x", Status: "cancelled", Reason: "cancelled", Attempts: attempts(1)}, 1, "execution x was cancelled"},
		{client.Execution{ID: "x", Status: "failed", Reason: "crash", ExitCode: -1, Attempts: []client.Attempt{{Error: "no such image"}}}, 1, "failed (crash) after 1 attempt: no such image"},
	} {
		err := executionResult(&c.ex)
		var xe *exitCodeError
		switch {
		case c.code == 0 && err != nil:
			t.Errorf("%+v: %v; want success", c.ex, err)
		case c.code != 0 && (!errors.As(err, &xe) || xe.code != c.code || xe.msg != c.msg && !strings.Contains(xe.msg, c.msg)):
			t.Errorf("%s/%s: err %v; want exit %d and %q", c.ex.Status, c.ex.Reason, err, c.code, c.msg)
		}
	}
}
