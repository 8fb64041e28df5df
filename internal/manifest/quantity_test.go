package manifest

import (
	"testing"

	"github.com/berth-dev/berth/internal/runtime"
)

func TestResources(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name string
		m    Manifest
		want runtime.Resources
	}{
		{"default", Manifest{}, runtime.Resources{NanoCPUs: 125_000_000, MemoryBytes: 512 * mib}},
		{"default slot", Manifest{Slot: DefaultSlot}, runtime.Resources{NanoCPUs: 125_000_000, MemoryBytes: 512 * mib}},
		{"slot c.5-m1024", Manifest{Slot: "c.5-m1024"}, runtime.Resources{NanoCPUs: 500_000_000, MemoryBytes: 1024 * mib}},
		{"slot c1-m2048", Manifest{Slot: "c1-m2048"}, runtime.Resources{NanoCPUs: 1_000_000_000, MemoryBytes: 2048 * mib}},
		{"slot c2.5-m4096", Manifest{Slot: "c2.5-m4096"}, runtime.Resources{NanoCPUs: 2_500_000_000, MemoryBytes: 4096 * mib}},
		{"cpu and memory", Manifest{CPU: "250m", Memory: "1Gi"}, runtime.Resources{NanoCPUs: 250_000_000, MemoryBytes: 1024 * mib}},
		{"cpu only", Manifest{CPU: "2"}, runtime.Resources{NanoCPUs: 2_000_000_000, MemoryBytes: 512 * mib}},
		{"memory only", Manifest{Memory: "256Mi"}, runtime.Resources{NanoCPUs: 125_000_000, MemoryBytes: 256 * mib}},
		{"invalid slot counts as default", Manifest{Slot: "big"}, runtime.Resources{NanoCPUs: 125_000_000, MemoryBytes: 512 * mib}},
	} {
		if got := tc.m.Resources(); got != tc.want {
			t.Errorf("%s: Resources() = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestDefaultsAgree(t *testing.T) {
	slot, err := ParseSlot(DefaultSlot)
	if err != nil {
		t.Fatal(err)
	}
	cpu, err1 := ParseCPU(DefaultCPU)
	mem, err2 := ParseMemory(DefaultMemory)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if slot != (runtime.Resources{NanoCPUs: cpu, MemoryBytes: mem}) {
		t.Errorf("DefaultSlot %s = %+v, but DefaultCPU %s and DefaultMemory %s = %d, %d", DefaultSlot, slot, DefaultCPU, DefaultMemory, cpu, mem)
	}
	if (&Manifest{}).Resources() != slot {
		t.Errorf("Resources() of an empty manifest = %+v, want DefaultSlot %+v", (&Manifest{}).Resources(), slot)
	}
}

func TestParseCPU(t *testing.T) {
	for in, want := range map[string]int64{
		"10m": 10_000_000, "250m": 250_000_000, "0.5": 500_000_000, ".25": 250_000_000,
		"1": 1_000_000_000, "64": 64_000_000_000, "0.0105": 10_500_000, "10.5m": 10_500_000,
	} {
		got, err := ParseCPU(in)
		if err != nil || got != want {
			t.Errorf("ParseCPU(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "9m", "0.009", "65", "64001m", "1.5m", "-1", "1e3", "1 ", "1c", "0x10", "1.", "."} {
		if got, err := ParseCPU(in); err == nil {
			t.Errorf("ParseCPU(%q) = %d; want an error", in, got)
		}
	}
}

func TestParseMemory(t *testing.T) {
	for in, want := range map[string]int64{
		"16Mi": 16 << 20, "512Mi": 512 << 20, "1Gi": 1 << 30, "1.5Gi": 3 << 29, "256Gi": 256 << 30,
		"16384Ki": 16 << 20, "500M": 500_000_000, "1G": 1_000_000_000, "20000k": 20_000_000,
		"20000K": 20_000_000, "17000000": 17_000_000, "0.1Gi": 107374183, // rounded up
	} {
		got, err := ParseMemory(in)
		if err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "15Mi", "257Gi", "1Ti", "512", "1GB", "1gi", "-1Gi", "1 Gi", "1e9", "Mi"} {
		if got, err := ParseMemory(in); err == nil {
			t.Errorf("ParseMemory(%q) = %d; want an error", in, got)
		}
	}
}

func TestParseSlot(t *testing.T) {
	for _, in := range []string{"c.01-m16", "c64-m262144", "c.125-m512", "c0.125-m512"} {
		if _, err := ParseSlot(in); err != nil {
			t.Errorf("ParseSlot(%q): %v", in, err)
		}
	}
	for _, in := range []string{"", "c.125", "m512", "c.125m512", "c.009-m512", "c65-m512", "c1-m15", "c1-m262145", "C1-M512", "c1-m1.5", "c-1-m512", "c.1234567891-m512"} {
		if got, err := ParseSlot(in); err == nil {
			t.Errorf("ParseSlot(%q) = %+v; want an error", in, got)
		}
	}
}
