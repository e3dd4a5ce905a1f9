package api

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vytalwatch/vytalwatch/api/store"
)

// exportHeader names the columns of a month's export, one row per
// approved claim line. status is approved, or correction for a row whose
// newest snapshot bills differently from what was approved: its line
// still shows the approved values, and the row waits for a new review.
// open is true for a line whose period had not ended in the patient's
// time zone when the export was made. It is the last column, so the
// columns before it keep the positions they had before it was added.
var exportHeader = []string{
	"month", "patient_id", "status", "code", "units", "period_start", "period_end", "days_with_readings", "minutes",
	"flags", "approved_event_id", "approved_by", "approved_at", "open",
}

// handleExportBillingMonth writes the month's approved claim lines as
// CSV, including those of corrections with their approved values. Each
// exported patient is audited once.
func (s *Server) handleExportBillingMonth(w http.ResponseWriter, r *http.Request) {
	m, err := parseMonthParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rows, err := s.db.ApprovedBillingMonths(r.Context(), m)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := exportCSV(rows, s.periodClock())
	if err != nil {
		s.fail(w, r, err)
		return
	}

	// An empty export is audited too, as an export of no patient.
	entries := []auditEntry{billingMonthAudit("billing.month.export", m, "")}
	if len(rows) > 0 {
		entries = entries[:0]
		for _, row := range rows {
			entries = append(entries, billingMonthAudit("billing.month.export", m, row.PatientID))
		}
	}
	if err := s.audit(r, entries...); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="billing-%s.csv"`, m))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// exportCSV returns the rows' approved claim lines as CSV, each dated
// open or not on clock. Every cell passes through spreadsheetSafe.
//
// Lines end in LF, not the CRLF of RFC 4180, because encoding/csv drops a
// carriage return inside a cell when it writes CRLF, and patient ids may
// contain one.
func exportCSV(rows []store.BillingMonth, clock periodClock) ([]byte, error) {
	var buf bytes.Buffer
	out := csv.NewWriter(&buf)
	if err := out.Write(exportHeader); err != nil {
		return nil, err
	}
	for _, row := range rows {
		a := row.Approval
		if a == nil {
			// The store returns approved rows and corrections, which
			// always have an approval.
			return nil, fmt.Errorf("export billing month %s: patient %s is %s without an approval", row.Month, row.PatientID, row.Status)
		}
		today := clock.today(a.Timezone)
		for _, line := range a.Lines {
			record := []string{
				row.Month.String(), row.PatientID, row.Status, line.Code, strconv.Itoa(line.Units),
				line.PeriodStart.String(), line.PeriodEnd.String(), countCell(line.Days), countCell(line.Minutes),
				strings.Join(line.Flags, ";"), a.EventID, a.ByEmail, a.At.UTC().Format(time.RFC3339),
				strconv.FormatBool(lineOpen(line, today)),
			}
			for i, cell := range record {
				record[i] = spreadsheetSafe(cell)
			}
			if err := out.Write(record); err != nil {
				return nil, err
			}
		}
	}
	out.Flush()
	return buf.Bytes(), out.Error()
}

// countCell returns a count as text, or an empty cell for zero, because a
// claim line sets either days or minutes and leaves the other zero.
func countCell(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// spreadsheetSafe prefixes a cell that a spreadsheet would read as a
// formula (one starting with =, +, -, @, tab or carriage return) with an
// apostrophe, which makes the spreadsheet show it as text. Patient ids
// come from device data and may start with any of these.
func spreadsheetSafe(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}
