package operators_test

import (
	"math"
	"testing"

	"github.com/vytalwatch/vytalwatch/operators"
)

// Short names for the truth tables below.
const (
	U = operators.Unknown
	F = operators.False
	T = operators.True
)

func TestTruthZeroValueIsUnknown(t *testing.T) {
	var zero operators.Truth
	if zero != operators.Unknown {
		t.Errorf("zero Truth = %v, want unknown", zero)
	}
}

func TestTruthString(t *testing.T) {
	tests := []struct {
		in   operators.Truth
		want string
	}{
		{operators.Unknown, "unknown"},
		{operators.False, "false"},
		{operators.True, "true"},
		{operators.Truth(7), "Truth(7)"},
	}
	for _, tc := range tests {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("Truth(%d).String() = %q, want %q", int8(tc.in), got, tc.want)
		}
	}
}

func TestAndTruthTable(t *testing.T) {
	tests := []struct{ a, b, want operators.Truth }{
		{F, F, F},
		{F, U, F},
		{F, T, F},
		{U, F, F},
		{U, U, U},
		{U, T, U},
		{T, F, F},
		{T, U, U},
		{T, T, T},
	}
	for _, tc := range tests {
		if got := operators.And(tc.a, tc.b); got != tc.want {
			t.Errorf("And(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestOrTruthTable(t *testing.T) {
	tests := []struct{ a, b, want operators.Truth }{
		{F, F, F},
		{F, U, U},
		{F, T, T},
		{U, F, U},
		{U, U, U},
		{U, T, T},
		{T, F, T},
		{T, U, T},
		{T, T, T},
	}
	for _, tc := range tests {
		if got := operators.Or(tc.a, tc.b); got != tc.want {
			t.Errorf("Or(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestNotTruthTable(t *testing.T) {
	tests := []struct{ in, want operators.Truth }{
		{F, T},
		{U, U},
		{T, F},
	}
	for _, tc := range tests {
		if got := operators.Not(tc.in); got != tc.want {
			t.Errorf("Not(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestFromBool(t *testing.T) {
	if got := operators.FromBool(true); got != operators.True {
		t.Errorf("FromBool(true) = %v, want true", got)
	}
	if got := operators.FromBool(false); got != operators.False {
		t.Errorf("FromBool(false) = %v, want false", got)
	}
}

func TestCompare(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		op   string
		a, b float64
		want operators.Truth
	}{
		{"<", 1, 2, T},
		{"<", 2, 2, F},
		{"<=", 2, 2, T},
		{"<=", 3, 2, F},
		{">", 3, 2, T},
		{">", 2, 2, F},
		{">=", 2, 2, T},
		{">=", 1, 2, F},
		{"==", 2, 2, T},
		{"==", 2, 2.5, F},
		{"!=", 2, 2.5, T},
		{"!=", 2, 2, F},
		{"<", nan, 2, U},
		{"<", 2, nan, U},
		{"==", nan, nan, U},
		{"!=", nan, 2, U},
		{">=", math.Inf(1), 1e308, T},
	}
	for _, tc := range tests {
		if got := operators.Compare(tc.op, tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%q, %v, %v) = %v, want %v", tc.op, tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCompareInvalidOperatorPanics(t *testing.T) {
	for _, op := range []string{"", "=", "<>", "=>", "lt"} {
		if operators.IsCompareOp(op) {
			t.Errorf("IsCompareOp(%q) = true, want false", op)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Compare(%q, 1, 2) did not panic", op)
				}
			}()
			operators.Compare(op, 1, 2)
		}()
	}
}
