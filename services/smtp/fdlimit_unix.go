//go:build unix

package smtp

import "syscall"

// fileLimit is the process's open file limit (0: unknown). Go raises the
// soft limit to the hard one at start on Linux, so this is what the
// process can really open.
func fileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 0
	}
	return int(rl.Cur)
}
