DROP TABLE outbox, sink_offsets, alert_events, alerts, latest_readings, care_events, care_team,
    patients, rule_versions, rules, audit_log, api_keys, invites, revoked_tokens, refresh_tokens,
    sessions, users;
