package manifest

import (
	"encoding/json"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDurationString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 90 * time.Second: "1m30s", time.Minute: "1m", time.Hour: "1h", 90 * time.Minute: "1h30m",
		1500 * time.Millisecond: "1.5s", 500 * time.Millisecond: "500ms", time.Hour + time.Second: "1h0m1s", -time.Minute: "-1m",
	} {
		if got := Duration(d).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", d, got, want)
		}
		if back, err := ParseDuration(Duration(d).String()); err != nil || back.D() != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", Duration(d).String(), back, err, d)
		}
	}
}

func TestDurationYAMLRoundTrip(t *testing.T) {
	type doc struct {
		D Duration `yaml:"d"`
	}
	for in, want := range map[string]time.Duration{
		`90s`: 90 * time.Second, `1m`: time.Minute, `1m30s`: 90 * time.Second, `"2s"`: 2 * time.Second, `250ms`: 250 * time.Millisecond,
	} {
		var v doc
		if err := yaml.Unmarshal([]byte("d: "+in), &v); err != nil || v.D.D() != want {
			t.Errorf("unmarshal %q = %v, %v; want %v", in, v.D, err, want)
			continue
		}
		out, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back doc
		if err := yaml.Unmarshal(out, &back); err != nil || back != v {
			t.Errorf("round trip of %q through %q = %v, %v", in, out, back.D, err)
		}
	}
	for _, in := range []string{`2`, `0`, `1.5`, `2 s`, `1d`, `[1s]`, `{a: 1}`, `"-"`} {
		var v doc
		if err := yaml.Unmarshal([]byte("d: "+in), &v); err == nil {
			t.Errorf("unmarshal %q = %v; want an error", in, v.D)
		}
	}
}

func TestDurationJSONRoundTrip(t *testing.T) {
	l := Limits{IdleTimeout: Duration(time.Minute), MaxDuration: Duration(5 * time.Minute), RequestTimeout: Duration(90 * time.Second)}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"idle_timeout":"1m","max_duration":"5m","request_timeout":"1m30s","drain_timeout":"0s"}`; string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var back Limits
	if err := json.Unmarshal(b, &back); err != nil || back != l {
		t.Errorf("round trip = %+v, %v; want %+v", back, err, l)
	}
	var d Duration
	if err := json.Unmarshal([]byte(`2000000000`), &d); err != nil || d.D() != 2*time.Second {
		t.Errorf("unmarshal nanoseconds = %v, %v; want 2s", d, err)
	}
	for _, in := range []string{`"2"`, `"soon"`, `true`, `{}`} {
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("unmarshal %s = %v; want an error", in, d)
		}
	}
}
