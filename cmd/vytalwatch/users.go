package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/vytalwatch/vytalwatch/api"
	"github.com/vytalwatch/vytalwatch/api/store"
	"github.com/vytalwatch/vytalwatch/connectors/postgres"
)

// runUsers bootstraps accounts directly in the database.
func runUsers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create-admin" {
		return fmt.Errorf("%w: users takes create-admin --email E", errUsage)
	}
	fs := flag.NewFlagSet("users create-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the administrator's email")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *email == "" || !strings.Contains(*email, "@") {
		return fmt.Errorf("%w: users create-admin needs --email with an email address", errUsage)
	}

	databaseURL := os.Getenv("DATABASE_URL")
	if databaseURL == "" {
		return fmt.Errorf("%w: %w", errUsage, errors.New("DATABASE_URL is not set; give a PostgreSQL connection string"))
	}
	logger, err := newLogger(stderr)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	db, err := openDatabase(ctx, databaseURL, true, logger)
	if err != nil {
		return err
	}
	defer db.Close()

	acct, err := createAccount(ctx, db, strings.ToLower(strings.TrimSpace(*email)), api.RoleAdmin, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "administrator %s created\n  password:    %s\n  TOTP secret: %s\n  otpauth URL: %s\n"+
		"Add the secret to an authenticator app, or print the current code with: vytalwatch totp code --secret %s\n",
		acct.email, acct.password, acct.totpSecret, acct.otpauthURL, acct.totpSecret)
	return nil
}

// account is a user created by a tool, with the secrets it prints once.
type account struct {
	id         string
	email      string
	password   string
	totpSecret string
	otpauthURL string
}

// createAccount creates a user with a generated password and, when
// withTOTP is set, a confirmed TOTP secret.
func createAccount(ctx context.Context, db *postgres.DB, email, role string, withTOTP bool) (account, error) {
	a := account{email: email, password: generatePassword()}
	u, err := db.CreateUser(ctx, store.NewUser{Email: email, Role: role, PasswordHash: api.HashPassword(a.password, api.DefaultPasswordParams)})
	if errors.Is(err, store.ErrConflict) {
		return a, fmt.Errorf("a user with email %s already exists", email)
	}
	if err != nil {
		return a, err
	}
	a.id = u.ID
	if !withTOTP {
		return a, nil
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "VytalWatch", AccountName: email})
	if err != nil {
		return a, err
	}
	if err := db.SetTOTPSecret(ctx, u.ID, key.Secret()); err != nil {
		return a, err
	}
	if err := db.ConfirmTOTP(ctx, u.ID); err != nil {
		return a, err
	}
	a.totpSecret, a.otpauthURL = key.Secret(), key.URL()
	return a, nil
}

// generatePassword returns 20 random characters from an alphabet without
// look-alikes (about 115 bits).
func generatePassword() string {
	const alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// runTOTP prints the current code of a TOTP secret, so curl users can
// log in as an administrator without an authenticator app.
func runTOTP(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "code" {
		return fmt.Errorf("%w: totp takes code --secret S", errUsage)
	}
	fs := flag.NewFlagSet("totp code", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", os.Getenv("VYTALWATCH_TOTP_SECRET"), "base32 TOTP secret (VYTALWATCH_TOTP_SECRET)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *secret == "" {
		return fmt.Errorf("%w: totp code needs --secret", errUsage)
	}
	code, err := api.TOTPCode(*secret, time.Now())
	if err != nil {
		return fmt.Errorf("%w: --secret is not a base32 TOTP secret: %v", errUsage, err)
	}
	fmt.Fprintln(stdout, code)
	return nil
}
