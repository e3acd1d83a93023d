package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmguard/crmguard/sdk"
)

// alert e-mails the record's owner and the delegate.
func (q request) alert(rec sdk.Record, delegate sdk.UserInfo, until time.Time) {
	to := []string{delegate.ID}
	if rec.OwnerID != "" && rec.OwnerID != delegate.ID {
		to = append(to, rec.OwnerID)
	}
	name, _ := rec.Data["name"].(string)
	if name == "" {
		name = rec.ID
	}
	q.notify(to,
		fmt.Sprintf("%s %q is delegated to %s until %s", rec.Type, clip(name, 80), clip(delegate.DisplayName(), 60), until.Format(time.RFC3339)),
		fmt.Sprintf("%s delegated %s %q (%s) to %s, who may %s it until %s.",
			q.caller.User.DisplayName(), rec.Type, clip(name, 1000), rec.ID,
			delegate.DisplayName(), q.s.verbs(), until.Format(time.RFC3339)))
}

// notify e-mails users, at most maxRecipients a message (the host's bound).
// A failure to alert is not a failure to delegate, and is not retried.
func (q request) notify(to []string, subject, body string) {
	for len(to) > 0 {
		n := min(len(to), maxRecipients)
		_ = q.host.Notify(q.ctx, q.caller.Install.ID, sdk.Notification{UserIDs: to[:n], Subject: subject, Body: body})
		to = to[n:]
	}
}

// maxRecipients is the most users the host e-mails in one notification.
const maxRecipients = 200

// clip cuts s to at most n runes, marking the cut.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// verbs says what a delegation lets the delegate do.
func (s settings) verbs() string {
	if slices.Contains(s.Actions, sdk.ActionEdit) {
		return "view and edit"
	}
	return "view"
}

// alertBulk e-mails once, to the delegate and each owner, what a bulk
// delegation delegated: one message, not one per record.
func (q request) alertBulk(t sdk.RecordType, delegate sdk.UserInfo, delegated []view, owners map[string]bool) {
	to := []string{delegate.ID}
	for owner := range owners {
		if owner != delegate.ID {
			to = append(to, owner)
		}
	}
	slices.Sort(to[1:])
	until := delegated[0].ExpiresAt.Format(time.RFC3339)
	const listed = 200 // the body stays well within the host's bound
	var lines []string
	for _, v := range delegated[:min(len(delegated), listed)] {
		lines = append(lines, fmt.Sprintf("- %s %s, until %s", t, v.Record.ID, v.ExpiresAt.Format(time.RFC3339)))
	}
	if len(delegated) > listed {
		lines = append(lines, fmt.Sprintf("- and %d more", len(delegated)-listed))
	}
	what := fmt.Sprintf("%d %s records are", len(delegated), t)
	if len(delegated) == 1 {
		what = fmt.Sprintf("1 %s record is", t)
	}
	q.notify(to,
		fmt.Sprintf("%s delegated to %s until %s", what, clip(delegate.DisplayName(), 60), until),
		fmt.Sprintf("%s delegated these records to %s, who may %s them:\n%s",
			q.caller.User.DisplayName(), delegate.DisplayName(), q.s.verbs(),
			strings.Join(lines, "\n")))
}
