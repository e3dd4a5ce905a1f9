package state_test

import (
	"testing"

	"github.com/vytalwatch/vytalwatch/state"
)

// changelogRecord is one record as the engine writes it to the changelog.
type changelogRecord struct {
	key, value []byte
}

// batchRecords returns a batch's changes as changelog records, followed by
// its marker.
func batchRecords(t *testing.T, s *state.Store, partition int, epoch int64, write func(b *state.Batch)) []changelogRecord {
	t.Helper()
	b := s.NewBatch(partition, true)
	defer b.Close()
	write(b)
	if err := b.Prepare(); err != nil {
		t.Fatal(err)
	}
	var out []changelogRecord
	for _, c := range b.Changes() {
		out = append(out, changelogRecord{c.Key, state.ChangelogValue(c)})
	}
	return append(out, changelogRecord{state.MarkerKey(partition), state.MarkerValue(epoch)})
}

func setProfile(id, value string) func(b *state.Batch) {
	return func(b *state.Batch) {
		if err := b.SetProfile(id, []byte(value)); err != nil {
			panic(err)
		}
	}
}

// TestRestoreFencesStaleWriter replays a changelog in which a former
// owner wrote a batch after the new owner's fence. The restore must skip
// that batch, apply the new owner's, and drop a batch cut short at the
// end.
func TestRestoreFencesStaleWriter(t *testing.T) {
	scratch := openStore(t, t.TempDir())
	var log []changelogRecord
	log = append(log, batchRecords(t, scratch, 3, 0, setProfile("p1", "v1"))...)
	fence := int64(len(log))
	log = append(log, changelogRecord{state.FenceKey(3), []byte{1}})
	log = append(log, batchRecords(t, scratch, 3, 0, setProfile("p1", "zombie"))...)
	log = append(log, batchRecords(t, scratch, 3, fence, setProfile("p2", "v2"))...)
	partial := batchRecords(t, scratch, 3, fence, setProfile("p3", "cut"))
	log = append(log, partial[:len(partial)-1]...)

	s := openStore(t, t.TempDir())
	r := s.NewRestore(3, state.Checkpoint{})
	for i, rec := range log {
		if err := r.Add(int64(i), rec.key, rec.value); err != nil {
			t.Fatal(err)
		}
	}
	cp, discarded, err := r.Finish(int64(len(log)))
	if err != nil {
		t.Fatal(err)
	}
	if cp.Next != int64(len(log)) {
		t.Errorf("checkpoint next = %d, want %d", cp.Next, len(log))
	}
	if cp.Epoch != fence {
		t.Errorf("checkpoint epoch = %d, want the fence offset %d", cp.Epoch, fence)
	}
	if r.Fenced != 1 {
		t.Errorf("fenced batches = %d, want 1", r.Fenced)
	}
	if discarded != len(partial)-1 {
		t.Errorf("discarded = %d, want %d", discarded, len(partial)-1)
	}
	b := s.NewBatch(3, false)
	defer b.Close()
	for id, want := range map[string]string{"p1": "v1", "p2": "v2", "p3": ""} {
		v, ok, err := b.Profile(id)
		if err != nil {
			t.Fatal(err)
		}
		if string(v) != want || ok != (want != "") {
			t.Errorf("profile %s = %q (found %v), want %q", id, v, ok, want)
		}
	}
	stored, ok, err := s.Checkpoint(3)
	if err != nil || !ok {
		t.Fatalf("checkpoint not stored: %v", err)
	}
	if stored != cp {
		t.Errorf("stored checkpoint = %+v, want %+v", stored, cp)
	}
}

// TestRestoreRejectsForeignKeys checks that a record of another partition
// stops the restore instead of landing in the wrong place.
func TestRestoreRejectsForeignKeys(t *testing.T) {
	scratch := openStore(t, t.TempDir())
	recs := batchRecords(t, scratch, 1, 0, setProfile("p1", "v1"))
	s := openStore(t, t.TempDir())
	r := s.NewRestore(2, state.Checkpoint{})
	defer r.Close()
	if err := r.Add(0, recs[0].key, recs[0].value); err == nil {
		t.Error("a partition 1 record restored into partition 2")
	}
}
