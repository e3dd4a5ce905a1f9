// Package billing decides Medicare CPT 2026 remote patient monitoring
// eligibility: device-supply codes per 30-day device period (99445 for 2
// to 15 days with data, 99454 for 16 or more, 99453 with the first
// qualifying period of an episode), treatment-management codes per
// calendar month (99470 for 10 to 19 minutes, 99457 from 20 minutes plus
// whole 99458 units of 20 more, each with a real-time interactive
// communication in the month), and 99091. It is pure computation over a
// patient's days with data and time entries, so the engine and the
// offline report reach the same decisions from the same inputs.
package billing

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Date is a calendar date, counted in days since 1970-01-01. Billing days
// are dates in the patient's own time zone, never instants.
type Date int32

// DateOf returns the calendar date of t in loc.
func DateOf(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return NewDate(y, m, d)
}

// NewDate returns the date of a year, month and day.
func NewDate(y int, m time.Month, d int) Date {
	return Date(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	var rangeErr *time.ParseError
	if errors.As(err, &rangeErr) && strings.Contains(rangeErr.Message, "out of range") {
		return 0, fmt.Errorf("date %q does not exist; check the day of the month", s)
	}
	if err != nil {
		return 0, fmt.Errorf("date %q is not in the form 2026-03-10", s)
	}
	return NewDate(t.Date()), nil
}

// Time returns midnight UTC of the date.
func (d Date) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// String returns the date as YYYY-MM-DD.
func (d Date) String() string { return d.Time().Format(time.DateOnly) }

// MarshalText encodes the date as YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText decodes YYYY-MM-DD.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Month returns the calendar month the date is in.
func (d Date) Month() Month {
	y, m, _ := d.Time().Date()
	return Month{Year: y, Month: m}
}

// Month is a calendar month.
type Month struct {
	Year  int
	Month time.Month
}

// ParseMonth parses YYYY-MM.
func ParseMonth(s string) (Month, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return Month{}, fmt.Errorf("month %q is not in the form 2026-03", s)
	}
	return Month{Year: t.Year(), Month: t.Month()}, nil
}

// String returns the month as YYYY-MM.
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// First returns the month's first day.
func (m Month) First() Date { return NewDate(m.Year, m.Month, 1) }

// Last returns the month's last day.
func (m Month) Last() Date { return m.Next().First() - 1 }

// Next returns the following month.
func (m Month) Next() Month {
	if m.Month == time.December {
		return Month{Year: m.Year + 1, Month: time.January}
	}
	return Month{Year: m.Year, Month: m.Month + 1}
}

// Contains reports whether the date falls in the month.
func (m Month) Contains(d Date) bool { return d >= m.First() && d <= m.Last() }

// MarshalText encodes the month as YYYY-MM.
func (m Month) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText decodes YYYY-MM.
func (m *Month) UnmarshalText(b []byte) error {
	v, err := ParseMonth(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}
