package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
)

// Mailer sends e-mail; the host builds one from its SMTP settings.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// WithMailer sends plugins' notifications by e-mail; without one they stay
// in the notifications outbox, readable through the API.
func WithMailer(m Mailer) Option { return func(s *Service) { s.mailer = m } }

// mailTimeout bounds one hand-over to the mail server.
const mailTimeout = 10 * time.Second

// notify records a plugin's message to users of an install and, with a
// mailer, sends it. The record is written first, so that nothing is lost
// when the mail server cannot take it: it then says why.
func (s *Service) notify(ctx context.Context, in crm.Install, source string, userIDs []string, subject, body string) error {
	subject, body = strings.TrimSpace(subject), strings.TrimSpace(body)
	switch {
	case len(userIDs) == 0:
		return crm.Invalid("invalid_notification", "user_ids: at least one user")
	case len(userIDs) > MaxLimit:
		return crm.Invalid("invalid_notification", "user_ids: at most %d users per notification", MaxLimit)
	case subject == "" || len(subject) > maxSubject || strings.ContainsAny(subject, "\r\n"):
		return crm.Invalid("invalid_notification", "subject: one line of 1 to %d bytes", maxSubject)
	case len(body) > maxBody:
		return crm.Invalid("invalid_notification", "body: at most %d bytes", maxBody)
	}
	state := store.NotificationOutbox
	if s.mailer != nil {
		state = store.NotificationFailed // until the mail server has taken it
	}
	var users []crm.User
	var notes []store.Notification
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		for i, id := range dedupe(userIDs) {
			if err := s.ids(in.ID).user(fmt.Sprintf("user_ids[%d]", i), id); err != nil {
				return err
			}
			u, err := tx.User(ctx, in.ID, id)
			if err != nil {
				return notFound(err, crm.Invalid("unknown_user", "user_ids[%d]: no user %s in this install", i, id), "user")
			}
			n := store.Notification{ID: crm.NewID(), InstallID: in.ID, UserID: id, Source: source, Subject: subject, Body: body,
				State: state, Error: "not sent yet", CreatedAt: s.clock()}
			if s.mailer == nil {
				n.Error = ""
			}
			if err := tx.InsertNotification(ctx, n); err != nil {
				return err
			}
			users, notes = append(users, u), append(notes, n)
		}
		return nil
	})
	if err != nil || s.mailer == nil {
		return err
	}
	for i, n := range notes {
		state, cause := store.NotificationSent, ""
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mailTimeout)
		if err := s.mailer.Send(mctx, users[i].Email, subject, body); err != nil {
			state, cause = store.NotificationFailed, err.Error()
			s.log.Warn("notification not sent", "install", in.Slug, "user", n.UserID, "err", err)
		}
		cancel()
		if err := s.db.SetNotificationState(context.WithoutCancel(ctx), in.ID, n.ID, state, cause); err != nil {
			return err
		}
	}
	return nil
}

// NotificationQuery selects notifications: the caller's own, or (admins)
// one user's or, with All, everyone's in the install.
type NotificationQuery struct {
	UserID string
	All    bool
	Limit  int
	Cursor string
}

// Notifications returns a page of notifications, newest first.
func (s *Service) Notifications(ctx context.Context, p crm.Principal, q NotificationQuery) ([]store.Notification, string, error) {
	p, err := s.verify(ctx, p)
	if err != nil {
		return nil, "", err
	}
	size, before, err := pageRequest(q.Limit, q.Cursor)
	if err != nil {
		return nil, "", err
	}
	userID := p.User.ID
	switch {
	case q.All || (q.UserID != "" && q.UserID != p.User.ID):
		if !p.IsAdmin() {
			return nil, "", crm.Errorf(crm.KindForbidden, "admin_only", "only administrators read other users' notifications")
		}
		userID = q.UserID
		if q.All {
			userID = ""
		} else if err := s.ids(p.Install.ID).user("user", userID); err != nil {
			return nil, "", err
		}
	}
	notes, err := s.db.Notifications(ctx, p.Install.ID, userID, before, size+1)
	if err != nil {
		return nil, "", err
	}
	notes, next := cutPage(notes, size, func(n store.Notification) string { return n.ID })
	return notes, next, nil
}
