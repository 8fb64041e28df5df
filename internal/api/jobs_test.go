package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeRunRequest(t *testing.T) {
	for _, c := range []struct {
		name, ct, body string
		env            map[string]string
		args           []string
		field, msg     string // the field error expected, or msg of a bad request
	}{
		{name: "empty body", body: ""},
		{name: "empty object", ct: "application/json", body: "{}"},
		{name: "env and args", ct: "application/json; charset=utf-8", body: `{"env":{"A":"1"},"args":["x",""]}`,
			env: map[string]string{"A": "1"}, args: []string{"x", ""}},
		{name: "args null keeps the job's", body: `{"args":null}`},
		{name: "args [] replaces them", body: `{"args":[]}`, args: []string{}},
		{name: "unknown field", body: `{"argz":[]}`, field: "argz", msg: "allowed fields are: env, args"},
		{name: "reserved env", body: `{"env":{"BERTH_ATTEMPT":"9"}}`, field: "env.BERTH_ATTEMPT", msg: "reserved"},
		{name: "bad env name", body: `{"env":{"1X":"9"}}`, field: "env.1X", msg: "letters, digits"},
		{name: "env not an object", body: `{"env":["A=1"]}`, field: "env", msg: "must be an object of strings"},
		{name: "args not strings", body: `{"args":[1]}`, field: "args", msg: "must be a list of strings"},
		{name: "NUL in args", body: `{"args":["a\u0000"]}`, field: "args[0]", msg: "NUL"},
		{name: "not an object", body: `[1]`, field: "(body)", msg: "JSON object"},
		{name: "not JSON", body: `{`, msg: "not valid JSON"},
		{name: "trailing data", body: `{} {}`, msg: "one JSON object"},
		{name: "wrong type", ct: "text/plain", body: `{}`, msg: `Content-Type "text/plain"; allowed: application/json`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/jobs/x/executions", strings.NewReader(c.body))
			if c.ct != "" {
				r.Header.Set("Content-Type", c.ct)
			}
			got, err := decodeRunRequest(r)
			var ire *InvalidRequestError
			switch {
			case c.field != "":
				if !errors.As(err, &ire) || len(ire.Errors) != 1 || ire.Errors[0].Field != c.field || !strings.Contains(ire.Errors[0].Message, c.msg) {
					t.Fatalf("err = %v; want a field error on %s containing %q", err, c.field, c.msg)
				}
			case c.msg != "":
				if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("err = %v; want a bad request containing %q", err, c.msg)
				}
				if p := toProblem(err); p.Status != http.StatusBadRequest {
					t.Fatalf("status %d", p.Status)
				}
			case err != nil:
				t.Fatal(err)
			case !reflect.DeepEqual(got.Env, c.env) || !reflect.DeepEqual(got.Args, c.args):
				t.Fatalf("decoded env %v args %#v; want %v %#v", got.Env, got.Args, c.env, c.args)
			}
			if ire != nil {
				if p := toProblem(err); p.Status != http.StatusBadRequest || p.Type == "" || len(p.Errors) != 1 {
					t.Fatalf("problem %+v", p)
				}
			}
		})
	}
}
