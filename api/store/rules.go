package store

import (
	"encoding/json"
	"time"

	"github.com/vytalwatch/vytalwatch/rules"
)

// StoredRule is a rule's current version as the API shows it and as it is
// published to vitals.rules: the definition with version and enabled set.
type StoredRule struct {
	Rule      rules.Rule
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RuleVersion is one stored definition of a rule.
type RuleVersion struct {
	Version   int             `json:"version"`
	Rule      json.RawMessage `json:"rule"`
	CreatedBy *string         `json:"created_by,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}
