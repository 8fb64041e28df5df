package manifest

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"

	"github.com/berth-dev/berth/internal/runtime"
)

// Resources is the CPU and memory of one instance: from Slot, or from CPU and
// Memory (the half not given taken from DefaultSlot), or DefaultSlot when none
// is set. It expects a valid manifest; a value it cannot parse counts as the
// default.
func (m *Manifest) Resources() runtime.Resources {
	def := runtime.Resources{NanoCPUs: 125_000_000, MemoryBytes: 512 << 20} // DefaultSlot
	if m.Slot != "" || m.CPU == "" && m.Memory == "" {
		if r, err := ParseSlot(m.Slot); err == nil {
			return r
		}
		return def
	}
	r := def
	if n, err := ParseCPU(m.CPU); err == nil {
		r.NanoCPUs = n
	}
	if n, err := ParseMemory(m.Memory); err == nil {
		r.MemoryBytes = n
	}
	return r
}

var slotRE = regexp.MustCompile(`^c([0-9]{1,6}(?:\.[0-9]{1,9})?|\.[0-9]{1,9})-m([0-9]{1,9})$`)

const slotSyntax = `must be a slot c<vCPUs>-m<MiB> such as "c.125-m512", "c.5-m1024", "c1-m2048" or "c2-m4096"`

// ParseSlot parses an instance size "c<vCPUs>-m<MiB>": "c.125-m512" is 0.125
// vCPU and 512 MiB. vCPUs may be 0.01–64, memory 16–262144 MiB.
func ParseSlot(s string) (runtime.Resources, error) {
	sm := slotRE.FindStringSubmatch(s)
	if sm == nil {
		return runtime.Resources{}, errors.New(slotSyntax)
	}
	nano, _ := decimalScaled(sm[1], 9)
	mib, _ := decimalScaled(sm[2], 0)
	var bad []string
	if nano < MinNanoCPUs || nano > MaxNanoCPUs {
		bad = append(bad, "the vCPUs after 'c' must be between 0.01 and 64 (c.01 to c64)")
	}
	if mib < MinMemoryBytes>>20 || mib > MaxMemoryBytes>>20 {
		bad = append(bad, "the MiB after 'm' must be between 16 and 262144 (m16 to m262144)")
	}
	if bad != nil {
		return runtime.Resources{}, errors.New(strings.Join(bad, "; "))
	}
	return runtime.Resources{NanoCPUs: nano, MemoryBytes: mib << 20}, nil
}

var cpuRE = regexp.MustCompile(`^([0-9]{1,6}(?:\.[0-9]{1,9})?|\.[0-9]{1,9})(m?)$`)

// ParseCPU parses a Kubernetes CPU quantity, millicores ("250m") or vCPUs
// ("0.5", "2"), into billionths of a vCPU. Allowed: 10m–64.
func ParseCPU(s string) (int64, error) {
	sm := cpuRE.FindStringSubmatch(s)
	if sm == nil {
		return 0, errors.New(`must be a CPU quantity: millicores such as "250m", or vCPUs such as "0.5" or "2"`)
	}
	exp := 9
	if sm[2] == "m" {
		exp = 6
	}
	nano, _ := decimalScaled(sm[1], exp)
	if nano < MinNanoCPUs || nano > MaxNanoCPUs {
		return 0, errors.New(`must be between 10m and 64 (vCPUs), e.g. "250m" or "0.5"`)
	}
	return nano, nil
}

var memoryRE = regexp.MustCompile(`^([0-9]{1,15}(?:\.[0-9]{1,9})?|\.[0-9]{1,9})(Ki|Mi|Gi|Ti|k|K|M|G|T)?$`)

var memoryUnits = map[string]int64{
	"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
	"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
}

// ParseMemory parses a Kubernetes memory quantity into bytes: "512Mi", "1Gi",
// "1.5Gi", "500M" (powers of 1000 with k/K, M, G, T) or plain bytes. Allowed:
// 16Mi–256Gi. Fractions of a byte round up.
func ParseMemory(s string) (int64, error) {
	sm := memoryRE.FindStringSubmatch(s)
	if sm == nil {
		return 0, errors.New(`must be a memory quantity such as "512Mi" or "1Gi" (suffixes Ki, Mi, Gi, Ti; k, M, G, T for powers of 1000; none for bytes)`)
	}
	nano, _ := new(big.Int).SetString(scaledDigits(sm[1], 9), 10) // the number × 1e9
	bytes := nano.Mul(nano, big.NewInt(memoryUnits[sm[2]]))
	bytes = ceilDiv(bytes, big.NewInt(1e9))
	if bytes.Cmp(big.NewInt(MinMemoryBytes)) < 0 || bytes.Cmp(big.NewInt(MaxMemoryBytes)) > 0 {
		msg := "must be between 16Mi and 256Gi"
		if sm[2] == "" {
			msg += fmt.Sprintf("; a number without a suffix is bytes: did you mean %q?", sm[1]+"Mi")
		}
		return 0, errors.New(msg)
	}
	return bytes.Int64(), nil
}

// decimalScaled returns the decimal number s (digits with at most one '.',
// at most 18 digits in all once scaled) times 10^exp, rounded up.
func decimalScaled(s string, exp int) (int64, bool) {
	n, ok := new(big.Int).SetString(scaledDigits(s, exp+9), 10)
	if !ok {
		return 0, false
	}
	n = ceilDiv(n, big.NewInt(1e9))
	if !n.IsInt64() {
		return 0, false
	}
	return n.Int64(), true
}

// scaledDigits returns the digits of the decimal number s times 10^exp,
// truncated to an integer.
func scaledDigits(s string, exp int) string {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) < exp {
		frac += strings.Repeat("0", exp-len(frac))
	}
	digits := whole + frac[:exp]
	if digits == "" {
		return "0"
	}
	return digits
}

func ceilDiv(a, b *big.Int) *big.Int {
	q, r := new(big.Int).QuoRem(a, b, new(big.Int))
	if r.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}
