-- Time entries in the shape the engine reads from vitals.care-events.

-- The first schema's care_events had kinds the engine never read; time
-- entries replace them.
DROP TABLE care_events;

-- Time that staff spent on a patient, published to vitals.care-events as
-- time_entry events. A deleted entry keeps its row, for the record, and
-- its id cannot be used again.
CREATE TABLE time_entries (
    patient_id  text NOT NULL REFERENCES patients (patient_id) ON DELETE CASCADE,
    entry_id    text NOT NULL,
    staff_id    text NOT NULL,
    role        text NOT NULL DEFAULT '',
    program     text NOT NULL CHECK (program IN ('rpm', 'ccm', 'pcm', '99091')),
    started_at  timestamptz NOT NULL,
    minutes     integer NOT NULL CHECK (minutes BETWEEN 1 AND 1440),
    interactive boolean NOT NULL,
    created_by  uuid NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_by  uuid REFERENCES users (id),
    deleted_at  timestamptz,
    PRIMARY KEY (patient_id, entry_id)
);
CREATE INDEX time_entries_started ON time_entries (patient_id, started_at);
