-- Emergency access ("break-glass"): a clinician's time-boxed grant on one
-- patient's record, reviewed afterwards by a privacy officer. A grant that
-- arrived by sync names the node it was made on; its clinician and patient
-- are that node's ids, so neither is a foreign key.
CREATE TABLE emergency_grants (
    id            text PRIMARY KEY,
    user_id       text NOT NULL,
    user_role     text NOT NULL,
    patient_id    text NOT NULL,
    reason        text NOT NULL,
    details       text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    node_id       text NOT NULL DEFAULT '',
    escalated     boolean NOT NULL DEFAULT false,
    review_status text NOT NULL DEFAULT 'pending' CHECK (review_status IN ('pending', 'justified', 'not_justified')),
    review_note   text NOT NULL DEFAULT '',
    reviewed_by   text NOT NULL DEFAULT '',
    reviewed_at   timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX emergency_grants_user_patient ON emergency_grants (user_id, patient_id, expires_at);
CREATE INDEX emergency_grants_review ON emergency_grants (review_status, created_at);
CREATE INDEX emergency_grants_created ON emergency_grants (created_at);

-- Accounts with the privacy officer's capability (admins have it anyway).
CREATE TABLE privacy_officers (
    user_id    text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    granted_at timestamptz NOT NULL
);
