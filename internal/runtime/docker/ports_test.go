package docker

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseListening(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	const header6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	for _, tc := range []struct {
		name, table string
		want        []int
		wantErr     string
	}{
		{name: "empty table", table: header, want: nil},
		{name: "nothing at all", table: "", want: nil},
		{name: "one listener", table: header +
			"   0: 00000000:23A3 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 115683 1 0000000000000000 100 0 0 10 0\n",
			want: []int{9123}},
		{name: "established and time-wait are not listening", table: header +
			"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n" +
			"   1: 0200A8C0:1F90 0100A8C0:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n" +
			"   2: 0200A8C0:1F90 0100A8C0:D432 06 00000000:00000000 03:00000A3F 00000000     0        0 0 3 0\n",
			want: []int{8080}},
		{name: "tcp6", table: header6 +
			"   0: 00000000000000000000000000000000:23A3 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 115683 1 000000005697da2e 100 0 0 10 0\n" +
			"   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 115684 1 0 100 0 0 10 0\n",
			want: []int{9123, 80}},
		{name: "short line", table: header + "   0: 00000000:23A3\n", wantErr: "want at least 4 fields"},
		{name: "no port", table: header + "   0: 00000000 00000000:0000 0A\n", wantErr: "want HEXIP:HEXPORT"},
		{name: "bad port", table: header + "   0: 00000000:XYZ 00000000:0000 0A\n", wantErr: "bad port"},
		{name: "port out of range", table: header + "   0: 00000000:1FFFF 00000000:0000 0A\n", wantErr: "bad port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseListening(strings.NewReader(tc.table))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parseListening = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
