package cli

import (
	"strings"
	"testing"
)

// TestNamespaceInputs: bad namespace and quota input is refused before any
// call, naming the flag, the value and what is allowed; ns rm without a
// terminal needs --yes.
func TestNamespaceInputs(t *testing.T) {
	f := newFakeAPI(t)
	dir := dataDir(t, f.srv.URL, goodToken)
	environ := map[string]string{"BERTH_DATA": dir}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{environ, []string{"apps", "-n", "Team_A"}, `--namespace (-n, or BERTH_NAMESPACE): namespace name "Team_A": must be 1 to 32 lower-case letters`},
		{map[string]string{"BERTH_DATA": dir, "BERTH_NAMESPACE": "-x"}, []string{"apps"}, `namespace name "-x"`},
		{environ, []string{"ns", "create", "a", "--max-apps", "-1"}, `--max-apps "-1": must be a whole number from 0 (unlimited) to 1000000`},
		{environ, []string{"ns", "create", "a", "--max-requests", "many"}, `--max-requests "many"`},
		{environ, []string{"ns", "quota", "a"}, "give at least one of --max-instances"},
		{environ, []string{"ns", "rm", "a"}, "stdin is not a terminal to confirm on, so pass --yes"},
		{environ, []string{"tokens", "create"}, "--ns is required"},
		{environ, []string{"tokens", "create", "--ns", "a", "--role", "admin"}, `--role "admin": allowed: deploy or read`},
	} {
		r := runCLI(t, c.env, c.args...)
		if r.code != exitFailure || !strings.Contains(r.stderr, c.want) {
			t.Errorf("berth %s: exit %d, stderr %q; want 1 and %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
	if n := f.callCount(); n != 0 {
		t.Errorf("refused input made %d API calls", n)
	}
	// The default namespace goes to the unscoped paths the fake serves.
	if r := runCLI(t, environ, "apps"); r.code != 0 {
		t.Errorf("apps: exit %d, %s", r.code, r.stderr)
	}
}
