package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token claims fixed for every access token.
const (
	issuerName    = "vytalwatch"
	tokenAudience = "vytalwatch-api"
)

// accessClaims are the claims of an access token. Role is informational:
// each request reads the user's current role from the database.
type accessClaims struct {
	jwt.RegisteredClaims
	Role      string `json:"role"`
	SessionID string `json:"sid"`
	// MFA is set when the login passed a TOTP check.
	MFA bool `json:"mfa,omitempty"`
	// EnrollOnly limits an administrator without TOTP to enrolling it.
	EnrollOnly bool `json:"enroll_only,omitempty"`
}

// tokenIssuer signs access tokens with Ed25519 and verifies them with the
// algorithm pinned: alg none, HMAC (including an HS256 token "signed" with
// the public key) and every other algorithm are rejected before any
// signature check, and exp, iat and jti are required.
type tokenIssuer struct {
	key    ed25519.PrivateKey
	public ed25519.PublicKey
	now    func() time.Time
	parser *jwt.Parser
}

func newTokenIssuer(key ed25519.PrivateKey, now func() time.Time) *tokenIssuer {
	return &tokenIssuer{
		key: key, public: key.Public().(ed25519.PublicKey), now: now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithIssuer(issuerName),
			jwt.WithAudience(tokenAudience),
			jwt.WithTimeFunc(now),
		),
	}
}

// issue signs an access token for a session and returns it with its
// claims.
func (t *tokenIssuer) issue(userID, role, sessionID string, mfa, enrollOnly bool, ttl time.Duration) (string, *accessClaims, error) {
	now := t.now()
	c := &accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuerName,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{tokenAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        randomToken(16),
		},
		Role: role, SessionID: sessionID, MFA: mfa, EnrollOnly: enrollOnly,
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(t.key)
	if err != nil {
		return "", nil, fmt.Errorf("sign access token: %w", err)
	}
	return signed, c, nil
}

// verify checks an access token's signature and claims.
func (t *tokenIssuer) verify(token string) (*accessClaims, error) {
	c := &accessClaims{}
	_, err := t.parser.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return t.public, nil })
	if err != nil {
		return nil, err
	}
	if c.IssuedAt == nil {
		return nil, errors.New("token has no iat claim")
	}
	if c.ID == "" || c.Subject == "" || c.SessionID == "" {
		return nil, errors.New("token lacks jti, sub or sid")
	}
	return c, nil
}

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(n))
}

// randomBytes returns n bytes from crypto/rand, which since Go 1.24 never
// returns an error (it crashes the program instead).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// hashSecret returns the SHA-256 of a random secret (a refresh token, an
// invite code, an API key), as stored. Secrets of 32 random bytes need no
// slow hash: guessing one is infeasible even with the digest.
func hashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// ParseSigningKey reads an Ed25519 private key from PEM (PKCS #8, as
// `openssl genpkey -algorithm ed25519` writes it).
func ParseSigningKey(pemText []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(pemText)
	if block == nil {
		return nil, errors.New("no PEM block found; give an Ed25519 private key in PEM, such as `openssl genpkey -algorithm ed25519` writes")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS #8 private key: %w", err)
	}
	ed, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is a %T, not an Ed25519 private key", key)
	}
	return ed, nil
}

// GenerateSigningKey returns a new random Ed25519 key.
func GenerateSigningKey() ed25519.PrivateKey {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return key
}

// EncodeSigningKey returns the key as PKCS #8 PEM, the form
// ParseSigningKey reads.
func EncodeSigningKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
