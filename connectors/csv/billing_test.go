package csv_test

import (
	"strings"
	"testing"

	"github.com/vytalwatch/vytalwatch/connectors/csv"
)

const entriesHeader = "entry_id,patient_id,staff_id,program,started_at,minutes,interactive\n"

func TestReadTimeEntriesRejectsBadRows(t *testing.T) {
	cases := []struct{ name, rows, want string }{
		{"unknown program", "e1,p1,rn1,rmp,2026-03-10T10:00:00Z,20,true\n",
			`time entries line 2: time entry program "rmp" is not one of rpm, ccm, pcm, 99091`},
		{"empty staff", "e1,p1,,rpm,2026-03-10T10:00:00Z,20,true\n",
			`time entries line 2: time entry "e1" needs the staff_id of who spent the time`},
		{"empty entry id", ",p1,rn1,rpm,2026-03-10T10:00:00Z,20,true\n",
			`time entries line 2: time entry needs an entry_id of at most 200 bytes`},
		{"id reused with other values", "a,p1,rn1,rpm,2026-03-20T10:00:00Z,12,true\na,p1,rn1,rpm,2026-03-25T10:00:00Z,12,false\n",
			`time entries line 3: entry_id "a" is already on line 2 with other values; give each entry its own id`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := csv.ReadTimeEntries(strings.NewReader(entriesHeader + c.rows))
			if err == nil || err.Error() != c.want {
				t.Errorf("error = %v, want %s", err, c.want)
			}
		})
	}
}

// An entry sent twice with the same values counts once, as the API and
// the engine count it.
func TestReadTimeEntriesCountsARepeatOnce(t *testing.T) {
	rows := "a,p1,rn1,rpm,2026-03-20T10:00:00-05:00,12,true\na,p1,rn1,rpm,2026-03-20T10:00:00-05:00,12,true\n"
	entries, err := csv.ReadTimeEntries(strings.NewReader(entriesHeader + rows))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].ID != "a" || entries[0].Minutes != 12 {
		t.Errorf("entries = %+v, want one entry a of 12 minutes", entries)
	}
}

func TestReadPatientsRejectsBadRows(t *testing.T) {
	cases := []struct{ name, rows, want string }{
		{"listed twice", "px,UTC,2026-03-15\npx,America/New_York,2026-03-01\n",
			`patients line 3: patient "px" is already on line 2; keep one row per patient`},
		{"machine zone", "px,Local,\n",
			`patients line 2: timezone Local means this machine's zone; give the patient's IANA zone such as America/Chicago`},
		{"date that does not exist", "px,UTC,2026-02-30\n",
			`patients line 2: episode_start: date "2026-02-30" does not exist; check the day of the month`},
		{"not a date", "px,UTC,03/01/2026\n",
			`patients line 2: episode_start: date "03/01/2026" is not in the form 2026-03-10`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := csv.ReadPatients(strings.NewReader("patient_id,timezone,episode_start\n" + c.rows))
			if err == nil || err.Error() != c.want {
				t.Errorf("error = %v, want %s", err, c.want)
			}
		})
	}
}
