package plugins

import (
	"os/exec"
	"syscall"
)

// orphanProof makes the kernel kill the plugin when the host dies, however
// it dies (SIGKILL included): a plugin never outlives its host.
func orphanProof(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
