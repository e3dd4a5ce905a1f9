-- The API's relational data. Tables are created unqualified, in the first
-- schema of the connection's search_path, so tests can give every test
-- its own schema.

-- Staff accounts. Devices authenticate with API keys, not users.
CREATE TABLE users (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email               text NOT NULL UNIQUE CHECK (email = lower(email)),
    role                text NOT NULL CHECK (role IN ('clinician', 'billing', 'admin', 'sre')),
    password_hash       text NOT NULL,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    -- NOTE: TOTP secrets are stored in clear, because the server must
    -- compute codes from them; encrypt the column in production.
    totp_secret         text,
    totp_confirmed      boolean NOT NULL DEFAULT false,
    -- The last 30-second TOTP time step accepted, so a code is never
    -- accepted twice.
    totp_last_step      bigint NOT NULL DEFAULT 0,
    disabled_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- A login: one refresh-token family. Revoking it revokes every access
-- and refresh token issued under it.
CREATE TABLE sessions (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    mfa        boolean NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Refresh tokens by SHA-256 of the token. A token is used once: its
-- rotation sets used_at, and a second use revokes the session.
CREATE TABLE refresh_tokens (
    hash       bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Access tokens revoked before they expire, by jti. Rows can be purged
-- after expires_at.
CREATE TABLE revoked_tokens (
    jti        text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

-- Single-use registration codes, bound to a role, by SHA-256 of the code.
CREATE TABLE invites (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code_hash  bytea NOT NULL UNIQUE,
    role       text NOT NULL CHECK (role IN ('clinician', 'billing', 'admin', 'sre')),
    created_by uuid NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    used_by    uuid REFERENCES users (id)
);

-- API keys for devices (ingest) and monitoring (sre). The key is
-- "vwk_<prefix>_<secret>"; only its SHA-256 is stored.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL,
    prefix       text NOT NULL UNIQUE,
    hash         bytea NOT NULL,
    role         text NOT NULL CHECK (role IN ('device', 'sre')),
    created_by   uuid REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    rotated_from uuid REFERENCES api_keys (id)
);

-- Who read or changed what, when and from where. Rows are only ever
-- inserted; no foreign keys, so the log outlives what it names.
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor_user_id uuid,
    actor_key_id  uuid,
    actor_role    text NOT NULL,
    action        text NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL DEFAULT '',
    patient_id    text,
    outcome       text NOT NULL CHECK (outcome IN ('allowed', 'denied', 'error')),
    ip            text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT '',
    request_id    text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_patient ON audit_log (patient_id, id);
CREATE INDEX audit_log_actor ON audit_log (actor_user_id, id);

-- Rules keep their id across delete and re-create, so versions only grow
-- and a re-created rule never inherits alert state.
CREATE TABLE rules (
    id              text PRIMARY KEY,
    current_version integer NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    deleted_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Every definition a rule has had. definition is the rule's JSON without
-- version and enabled, which live in the columns and the rules row.
CREATE TABLE rule_versions (
    rule_id    text NOT NULL REFERENCES rules (id),
    version    integer NOT NULL,
    definition jsonb NOT NULL,
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, version)
);

-- Patient profiles, as vitals.patients carries them. There are no name
-- fields: patients are known by id only.
CREATE TABLE patients (
    patient_id      text PRIMARY KEY,
    timezone        text NOT NULL DEFAULT '',
    birth_date      date,
    conditions      text[] NOT NULL DEFAULT '{}',
    thresholds      jsonb NOT NULL DEFAULT '{}',
    news2_scale2    boolean NOT NULL DEFAULT false,
    enrollment_date date,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE care_team (
    patient_id text NOT NULL REFERENCES patients (patient_id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (patient_id, user_id)
);
CREATE INDEX care_team_user ON care_team (user_id);

-- Monitoring time and interactive communications logged by clinicians,
-- published to vitals.care-events.
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

-- Newest reading of each metric per patient, kept by the readings sink.
CREATE TABLE latest_readings (
    patient_id  text NOT NULL,
    metric      text NOT NULL,
    value       double precision NOT NULL,
    unit        text NOT NULL DEFAULT '',
    measured_at timestamptz NOT NULL,
    reading_id  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, metric)
);

-- One row per firing, keyed by the fired event's id. Later events of the
-- firing (resolved, renotified, acknowledged) update it.
CREATE TABLE alerts (
    id              text PRIMARY KEY,
    patient_id      text NOT NULL,
    rule_id         text NOT NULL,
    rule_version    integer NOT NULL,
    rule_name       text NOT NULL DEFAULT '',
    severity        text NOT NULL,
    message         text NOT NULL DEFAULT '',
    status          text NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    fired_at        timestamptz NOT NULL,
    renotified      integer NOT NULL DEFAULT 0,
    acknowledged_at timestamptz,
    acknowledged_by uuid,
    resolved_at     timestamptz,
    -- A user id, or 'engine' when the rule's reset condition resolved it.
    resolved_by     text,
    assignee        uuid,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_fired ON alerts (fired_at DESC, id DESC);
CREATE INDEX alerts_patient ON alerts (patient_id, fired_at DESC, id DESC);

-- Every alert event once, by event id: a replayed event is a no-op.
CREATE TABLE alert_events (
    event_id  text PRIMARY KEY,
    alert_id  text NOT NULL,
    kind      text NOT NULL,
    at        timestamptz NOT NULL,
    event     jsonb NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_events_alert ON alert_events (alert_id);

-- The next offset each sink reads per partition, committed in the same
-- transaction as the rows a batch writes.
CREATE TABLE sink_offsets (
    sink        text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (sink, topic, partition)
);

-- Kafka records written in the same transaction as the rows they
-- describe; the relay publishes them in id order and deletes them.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    topic      text NOT NULL,
    key        bytea NOT NULL,
    value      bytea,
    created_at timestamptz NOT NULL DEFAULT now()
);
