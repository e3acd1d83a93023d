package sdk

import (
	"fmt"
	"runtime/debug"

	"github.com/crmguard/crmguard/sdk/wire"
)

// maxStack bounds the stack logged with a panic: the host reads the
// plugin's log a line at a time, and keeps lines up to 64 KiB whole.
const maxStack = 32 << 10

// recovered ends a hook call that panicked with a Fault for this call
// alone, and logs the panic with its stack: one bad request must not take
// down a process that serves every install. Defer it first in each hook,
// with the hook's error result.
func (s *server) recovered(hook string, err *error) {
	v := recover()
	if v == nil {
		return
	}
	s.logPanic("a hook panicked; that call failed, the plugin serves on", v, "hook", hook)
	*err = wire.Fault(fmt.Sprintf("%s failed in its %s hook", s.named(), hook))
}

// logPanic writes a recovered panic, its value and the panicking
// goroutine's stack, at error level to the plugin's log.
func (s *server) logPanic(msg string, v any, args ...any) {
	stack := debug.Stack()
	if len(stack) > maxStack {
		stack = stack[:maxStack]
	}
	s.log.Error(msg, append(args, "panic", fmt.Sprint(v), "stack", string(stack))...)
}

// named is the plugin as messages name it.
func (s *server) named() string {
	if id := s.id(); id != "" {
		return "plugin " + id
	}
	return "the plugin"
}
