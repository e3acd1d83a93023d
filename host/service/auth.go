package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/crmguard/crmguard/host/cache"
	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
)

// tokenPrefix marks crmguard tokens, so that a leaked one is recognisable
// by secret scanners.
const tokenPrefix = "cg_"

// errBadToken is the one answer for every token that does not authenticate,
// so that the answer reveals nothing about why.
var errBadToken = crm.Errorf(crm.KindUnauthenticated, "invalid_token", "the bearer token is not valid")

// errUserDisabled answers a token of a disabled user. Only a token that
// is right gets it, so it tells nobody anything they may not know.
var errUserDisabled = crm.Errorf(crm.KindUnauthenticated, "user_disabled",
	"this user is disabled: their tokens work again once an administrator of the install enables them")

// CreateToken issues a token for a user and returns its secret, which is
// shown this once: only its SHA-256 is stored.
func (s *Service) CreateToken(ctx context.Context, u crm.User, label string) (string, error) {
	secret, hash, err := newTokenSecret()
	if err != nil {
		return "", err
	}
	t := crm.Token{ID: crm.NewID(), InstallID: u.InstallID, UserID: u.ID, Label: label, CreatedAt: s.clock()}
	if err := s.db.CreateToken(ctx, t, hash); err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	return secret, nil
}

// ReplaceTokens revokes a user's tokens with the given label and issues a
// new one, so that re-running a set-up step leaves one working token.
func (s *Service) ReplaceTokens(ctx context.Context, u crm.User, label string) (string, error) {
	if err := s.checkWritable(ctx); err != nil {
		return "", err
	}
	secret, hash, err := newTokenSecret()
	if err != nil {
		return "", err
	}
	t := crm.Token{ID: crm.NewID(), InstallID: u.InstallID, UserID: u.ID, Label: label, CreatedAt: s.clock()}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteTokens(ctx, u.InstallID, u.ID, label); err != nil {
			return err
		}
		return tx.CreateToken(ctx, t, hash)
	})
	if err != nil {
		return "", fmt.Errorf("replace tokens: %w", err)
	}
	s.invalidate(ctx, u.InstallID, []string{cache.UserGen(u.InstallID, u.ID)}, nil)
	return secret, nil
}

// CreateServiceToken issues a service token of an install, with which an
// application may ask the decision API about any user of the install. Its
// secret is shown this once.
func (s *Service) CreateServiceToken(ctx context.Context, in crm.Install, label string) (string, error) {
	secret, hash, err := newTokenSecret()
	if err != nil {
		return "", err
	}
	t := crm.Token{ID: crm.NewID(), InstallID: in.ID, Label: label, CreatedAt: s.clock()}
	if err := s.db.CreateServiceToken(ctx, t, hash); err != nil {
		return "", fmt.Errorf("create service token: %w", err)
	}
	return secret, nil
}

func newTokenSecret() (secret string, hash []byte, err error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, fmt.Errorf("token: %w", err)
	}
	secret = tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(secret))
	return secret, sum[:], nil
}

// Authenticate returns the caller a bearer token belongs to. A token seen
// before is answered from the process's cache without any I/O; the
// operation that follows re-checks it (begin) in the same round trip that
// validates everything else it reads.
func (s *Service) Authenticate(ctx context.Context, token string) (crm.Principal, error) {
	if token == "" {
		return crm.Principal{}, crm.Errorf(crm.KindUnauthenticated, "missing_token", "this endpoint needs an Authorization: Bearer <token> header")
	}
	if raw, ok := strings.CutPrefix(token, tokenPrefix); !ok || len(raw) != 43 {
		return crm.Principal{}, errBadToken
	}
	sum := sha256.Sum256([]byte(token))
	if v, ok := s.cache.Peek(tokenKey(hex.EncodeToString(sum[:]))); ok {
		return enabled(v.(crm.Principal))
	}
	return s.lookupToken(ctx, sum[:])
}

// lookupToken finds the principal of a token's hash in the database.
func (s *Service) lookupToken(ctx context.Context, hash []byte) (crm.Principal, error) {
	p, stored, err := s.db.PrincipalByTokenHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		p, stored, err = s.db.ServicePrincipalByTokenHash(ctx, hash)
	}
	if errors.Is(err, store.ErrNotFound) {
		return crm.Principal{}, errBadToken
	}
	if err != nil {
		return crm.Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	// The lookup found the row by hash; comparing again in constant time
	// keeps the decision itself free of timing differences.
	if subtle.ConstantTimeCompare(stored, hash) != 1 {
		return crm.Principal{}, errBadToken
	}
	p.TokenHash = hex.EncodeToString(hash)
	return enabled(p)
}

// enabled refuses the principal of a disabled user. Disabling a user bumps
// their counter, so no cached principal of theirs is trusted after it; a
// cached one that says disabled is refused all the same.
func enabled(p crm.Principal) (crm.Principal, error) {
	if !p.Service && p.User.Disabled {
		return crm.Principal{}, errUserDisabled
	}
	return p, nil
}
