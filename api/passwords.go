package api

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id cost parameters of new password
// hashes. They are stored in each hash, so changing them keeps old
// hashes verifiable.
type PasswordParams struct {
	// MemoryKiB is the memory per hash, in KiB. Defaults to 64 MiB.
	MemoryKiB uint32
	// Iterations is the number of passes. Defaults to 3.
	Iterations uint32
	// Threads is the number of lanes. Defaults to 2.
	Threads uint8
}

// DefaultPasswordParams are the parameters of production hashes: 64 MiB,
// 3 passes, 2 lanes.
var DefaultPasswordParams = PasswordParams{MemoryKiB: 64 * 1024, Iterations: 3, Threads: 2}

func (p PasswordParams) withDefaults() PasswordParams {
	if p == (PasswordParams{}) {
		return DefaultPasswordParams
	}
	return p
}

// Salt and key lengths of every hash, in bytes.
const (
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Password length bounds, in characters. The maximum keeps hashing cheap
// to reject; argon2 itself takes any length.
const (
	minPasswordLength = 12
	maxPasswordLength = 256
)

// hashPassword returns the PHC-format argon2id hash of a password, such
// as $argon2id$v=19$m=65536,t=3,p=2$<salt>$<key>, base64 without padding.
func hashPassword(password string, p PasswordParams) string {
	p = p.withDefaults()
	salt := randomBytes(argonSaltLen)
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Threads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// verifyPassword reports whether password matches a hash from
// hashPassword, comparing in constant time.
func verifyPassword(password, encoded string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("password hash is not in argon2id PHC format")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("password hash has unsupported argon2 version %q", parts[2])
	}
	var memory, passes uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &passes, &threads); err != nil {
		return false, fmt.Errorf("password hash parameters %q: %w", parts[3], err)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("password hash salt: %w", err)
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, fmt.Errorf("password hash key: %w", err)
	}
	got := argon2.IDKey([]byte(password), salt, passes, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// checkPassword returns the problem with a new password, or "".
func checkPassword(password string) string {
	n := utf8.RuneCountInString(password)
	switch {
	case n < minPasswordLength:
		return fmt.Sprintf("must be at least %d characters; a passphrase of several words is easiest", minPasswordLength)
	case n > maxPasswordLength:
		return fmt.Sprintf("must be at most %d characters", maxPasswordLength)
	}
	return ""
}

// dummyHash is verified against when a login names an unknown user, so
// that unknown and known users take the same time to reject. It is
// computed on first use, because hashing takes 64 MiB and a noticeable
// fraction of a second, which every command of the binary would pay at
// start.
var dummyHash = sync.OnceValue(func() string { return hashPassword("vytalwatch-no-such-user", DefaultPasswordParams) })

// HashPassword returns the argon2id hash of a password in PHC format, for
// tools that create users directly in the store. Zero params take the
// defaults.
func HashPassword(password string, params PasswordParams) string {
	return hashPassword(password, params)
}
