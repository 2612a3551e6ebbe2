-- Emergency access ("break-glass"): a clinician's time-boxed grant on one
-- patient's record, reviewed afterwards by a privacy officer. A grant that
-- arrived by sync names the node it was made on; its clinician and patient
-- are that node's ids, so neither is a foreign key.
CREATE TABLE emergency_grants (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    user_role     TEXT NOT NULL,
    patient_id    TEXT NOT NULL,
    reason        TEXT NOT NULL,
    details       TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    node_id       TEXT NOT NULL DEFAULT '',
    escalated     INTEGER NOT NULL DEFAULT 0,
    review_status TEXT NOT NULL DEFAULT 'pending' CHECK (review_status IN ('pending', 'justified', 'not_justified')),
    review_note   TEXT NOT NULL DEFAULT '',
    reviewed_by   TEXT NOT NULL DEFAULT '',
    reviewed_at   TEXT NOT NULL DEFAULT '',
    CHECK (expires_at > created_at)
);
CREATE INDEX emergency_grants_user_patient ON emergency_grants (user_id, patient_id, expires_at);
CREATE INDEX emergency_grants_review ON emergency_grants (review_status, created_at);
CREATE INDEX emergency_grants_created ON emergency_grants (created_at);

-- Accounts with the privacy officer's capability (admins have it anyway).
CREATE TABLE privacy_officers (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    granted_at TEXT NOT NULL
);
