//go:build !linux

package plugins

import "os/exec"

// orphanProof does nothing where the kernel cannot tie a child's life to
// its parent's; go-plugin still stops plugins when the host exits cleanly.
func orphanProof(*exec.Cmd) {}
