package plugins

import "github.com/crmguard/crmguard/sdk/wire"

// IsFault reports whether err, from a call into a plugin, is the plugin's
// own failure on that call (a hook that panicked, which the SDK recovers),
// as opposed to a plugin that cannot be reached: the plugin answered and
// serves on, and calling again will not help.
func IsFault(err error) bool { return wire.IsFault(err) }
