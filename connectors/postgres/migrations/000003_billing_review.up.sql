-- The engine's eligibility snapshots from vitals.billing-events with
-- their review, and the events of billing rules.

-- One row per patient and month: the newest eligibility snapshot from
-- vitals.billing-events and its review. lines are the snapshot's claim
-- lines. An approval freezes the snapshot in the approved_ columns; a
-- later snapshot that bills differently makes the row a correction and
-- never changes them.
CREATE TABLE billing_months (
    month             date NOT NULL CHECK (extract(day FROM month) = 1),
    patient_id        text NOT NULL,
    event_id          text NOT NULL,
    computed_at       timestamptz NOT NULL,
    -- Where the snapshot was read, to order snapshots with the same
    -- computed_at.
    source_partition  integer NOT NULL,
    source_offset     bigint NOT NULL,
    report            jsonb NOT NULL,
    lines             jsonb NOT NULL,
    -- The report's flags for the month: those of its management figures
    -- and of the device periods that end in the month.
    flags             text[] NOT NULL DEFAULT '{}',
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'approved', 'rejected', 'correction')),
    approved_event_id text,
    approved_report   jsonb,
    approved_lines    jsonb,
    approved_by       uuid REFERENCES users (id),
    approved_at       timestamptz,
    rejected_by       uuid REFERENCES users (id),
    rejected_at       timestamptz,
    reject_reason     text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (month, patient_id),
    CHECK ((status IN ('approved', 'correction')) = (approved_at IS NOT NULL)),
    CHECK ((status = 'rejected') = (rejected_at IS NOT NULL))
);

-- Every approval and rejection, with the lines it covered. Rows are only
-- ever inserted.
CREATE TABLE billing_reviews (
    id         bigserial PRIMARY KEY,
    month      date NOT NULL,
    patient_id text NOT NULL,
    action     text NOT NULL CHECK (action IN ('approve', 'reject')),
    event_id   text NOT NULL,
    lines      jsonb NOT NULL,
    reason     text NOT NULL DEFAULT '',
    user_id    uuid NOT NULL REFERENCES users (id),
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_reviews_row ON billing_reviews (month, patient_id, id);

-- Events of billing rules, once each by event id.
CREATE TABLE billing_rule_events (
    event_id   text PRIMARY KEY,
    patient_id text NOT NULL,
    rule_id    text NOT NULL,
    kind       text NOT NULL,
    at         timestamptz NOT NULL,
    event      jsonb NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_rule_events_patient ON billing_rule_events (patient_id, at);
