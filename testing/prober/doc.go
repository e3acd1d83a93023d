// Package prober asks the real crmguard, with every shipped plugin active
// in two installs, whether anything of one install shows through to the
// other: with the tokens of install A (an admin, a manager, two members,
// the service token), every route is sent install B's ids — records of
// every type, users, the team, a role, a share, a delegation, and cursors
// of B's lists that carry B's record, user, notification, audit and grant
// ids — and, in a pair with it, the same request with a random id of the
// same shape. The two answers must be the same: status, headers (but the
// per-request ones, X-Request-Id and Date) and body, once the probed value
// and its stand-in are both written as one placeholder.
//
// TestProbesCoverRoutes fails when a route of the API or of a shipped
// plugin has neither a probe nor a stated reason to have none.
package prober
