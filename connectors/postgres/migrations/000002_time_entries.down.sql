DROP TABLE time_entries;

CREATE TABLE care_events (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    patient_id  text NOT NULL REFERENCES patients (patient_id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id),
    kind        text NOT NULL CHECK (kind IN ('monitoring_time', 'interactive_communication')),
    minutes     integer NOT NULL CHECK (minutes BETWEEN 1 AND 600),
    occurred_at timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX care_events_patient ON care_events (patient_id, occurred_at);
