package cli

import (
	"os"

	"golang.org/x/sys/unix"
)

// isTerminal tells whether f is a terminal (not /dev/null, a pipe or a file).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
