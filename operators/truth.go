package operators

import (
	"fmt"
	"math"
)

// Truth is a three-valued logic value, as SQL treats NULL: Unknown when data
// is missing. The zero value is Unknown, so a Truth that was never set does
// not read as False.
type Truth int8

// The three Truth values.
const (
	Unknown Truth = iota
	False
	True
)

// String returns "unknown", "false" or "true", and "Truth(n)" for any other
// value of the underlying integer.
func (t Truth) String() string {
	switch t {
	case Unknown:
		return "unknown"
	case False:
		return "false"
	case True:
		return "true"
	}
	return fmt.Sprintf("Truth(%d)", int8(t))
}

// And returns the SQL AND of a and b: False if either is False, True if both
// are True, and Unknown otherwise.
func And(a, b Truth) Truth {
	if a == False || b == False {
		return False
	}
	if a == True && b == True {
		return True
	}
	return Unknown
}

// Or returns the SQL OR of a and b: True if either is True, False if both are
// False, and Unknown otherwise.
func Or(a, b Truth) Truth {
	if a == True || b == True {
		return True
	}
	if a == False && b == False {
		return False
	}
	return Unknown
}

// Not returns the negation of a. Unknown stays Unknown.
func Not(a Truth) Truth {
	switch a {
	case True:
		return False
	case False:
		return True
	}
	return Unknown
}

// FromBool converts b to True or False.
func FromBool(b bool) Truth {
	if b {
		return True
	}
	return False
}

// Compare applies the comparison operator op to a and b. It returns Unknown
// if either operand is NaN, because a missing value compares as neither true
// nor false. Compare panics when IsCompareOp(op) is false, because an invalid
// operator is a bug in the caller, which should reject it when it parses the
// rule.
func Compare(op string, a, b float64) Truth {
	if !IsCompareOp(op) {
		panic(fmt.Sprintf("operators.Compare: invalid operator %q, want one of < <= > >= == !=", op))
	}
	if math.IsNaN(a) || math.IsNaN(b) {
		return Unknown
	}
	switch op {
	case "<":
		return FromBool(a < b)
	case "<=":
		return FromBool(a <= b)
	case ">":
		return FromBool(a > b)
	case ">=":
		return FromBool(a >= b)
	case "==":
		return FromBool(a == b)
	default:
		return FromBool(a != b)
	}
}

// IsCompareOp reports whether op is one of the operators that Compare
// accepts: "<", "<=", ">", ">=", "==" or "!=".
func IsCompareOp(op string) bool {
	switch op {
	case "<", "<=", ">", ">=", "==", "!=":
		return true
	}
	return false
}
