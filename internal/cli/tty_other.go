//go:build !linux

package cli

import "os"

// isTerminal tells whether f is a character device; outside Linux this is
// an approximation (/dev/null counts), so confirmations may then wait on it.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
