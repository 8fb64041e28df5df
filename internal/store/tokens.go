package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Token roles.
const (
	// RoleAdmin may do everything, in every namespace.
	RoleAdmin = "admin"
	// RoleDeploy may read, deploy, remove, scale and run jobs in its namespace.
	RoleDeploy = "deploy"
	// RoleRead may only read its namespace.
	RoleRead = "read"
)

// TokenPrefix starts every token secret, so that a leaked one is easy to
// recognise (and to scan for).
const TokenPrefix = "berth_"

var (
	bucketTokens       = []byte("tokens")
	bucketTokensByHash = []byte("tokens_by_hash")
)

// Token is an API token of one namespace. Only the SHA-256 of its secret is
// kept; the secret is shown once, when the token is created.
type Token struct {
	ID        string    `json:"id"`
	Hash      string    `json:"hash"`
	Namespace string    `json:"namespace"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Revoked tells whether the token was revoked.
func (t Token) Revoked() bool { return !t.RevokedAt.IsZero() }

// HashToken is how a secret is stored and looked up: hex SHA-256.
func HashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CheckRole refuses a role a namespace token cannot have.
func CheckRole(role string) error {
	if role != RoleDeploy && role != RoleRead {
		return fmt.Errorf("%w: role %q: allowed: deploy or read", ErrInvalid, role)
	}
	return nil
}

// CreateToken makes a token of role (deploy or read) for the existing
// namespace ns and returns it with its secret.
func (s *Store) CreateToken(ctx context.Context, ns, role string, now time.Time) (Token, string, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, "", err
	}
	if err := CheckRole(role); err != nil {
		return Token{}, "", err
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return Token{}, "", err
	}
	secret := TokenPrefix + hex.EncodeToString(buf)
	tok := Token{Hash: HashToken(secret), Namespace: ns, Role: role, CreatedAt: now}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if _, err := getNamespace(tx, ns); err != nil {
			return err
		}
		b := tx.Bucket(bucketTokens)
		for {
			id := make([]byte, 5)
			if _, err := rand.Read(id); err != nil {
				return err
			}
			tok.ID = "tok-" + hex.EncodeToString(id)
			if b.Get([]byte(tok.ID)) == nil {
				break
			}
		}
		if err := tx.Bucket(bucketTokensByHash).Put([]byte(tok.Hash), []byte(tok.ID)); err != nil {
			return err
		}
		return putJSON(b, []byte(tok.ID), tok)
	})
	if err != nil {
		return Token{}, "", fmt.Errorf("create token for namespace %s: %w", ns, err)
	}
	return tok, secret, nil
}

// TokenBySecret finds the token whose secret this is (revoked or not), or
// ErrNotFound.
func (s *Store) TokenBySecret(ctx context.Context, secret string) (Token, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, err
	}
	var tok Token
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketTokensByHash).Get([]byte(HashToken(secret)))
		if id == nil {
			return fmt.Errorf("token: %w", ErrNotFound)
		}
		return getToken(tx, string(id), &tok)
	})
	return tok, err
}

func getToken(tx *bolt.Tx, id string, tok *Token) error {
	v := tx.Bucket(bucketTokens).Get([]byte(id))
	if v == nil {
		return fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	return json.Unmarshal(v, tok)
}

// Tokens lists every token, revoked ones included, oldest first.
func (s *Store) Tokens(ctx context.Context) ([]Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []Token{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			var t Token
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode token %s: %w", k, err)
			}
			out = append(out, t)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, err
}

// RevokeToken revokes a token at once; revoking a revoked token keeps its
// first revocation time. ErrNotFound if there is no such token.
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) (Token, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, err
	}
	var tok Token
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := getToken(tx, id, &tok); err != nil {
			return err
		}
		if tok.RevokedAt.IsZero() {
			tok.RevokedAt = now
		}
		return putJSON(tx.Bucket(bucketTokens), []byte(id), tok)
	})
	return tok, err
}

// deleteTokensOf deletes the tokens of namespace ns, so that a namespace
// made again under the same name does not inherit them.
func deleteTokensOf(tx *bolt.Tx, ns string) error {
	b := tx.Bucket(bucketTokens)
	var ids, hashes [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var t Token
		if err := json.Unmarshal(v, &t); err != nil {
			return err
		}
		if t.Namespace == ns {
			ids, hashes = append(ids, []byte(t.ID)), append(hashes, []byte(t.Hash))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range ids {
		if err := b.Delete(ids[i]); err != nil {
			return err
		}
		if err := tx.Bucket(bucketTokensByHash).Delete(hashes[i]); err != nil {
			return err
		}
	}
	return nil
}
