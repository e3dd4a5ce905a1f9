package postgres

import "github.com/vytalwatch/vytalwatch/api/store"

// DB implements store.Store, through which the API reads and writes.
var _ store.Store = (*DB)(nil)
