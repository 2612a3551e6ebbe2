-- Assistant use is counted per provider too, for the usage charts. Rows
-- from before this have no provider ('').

CREATE TABLE ai_usage_by_provider (
    user_id    TEXT NOT NULL REFERENCES users (id),
    day        TEXT NOT NULL,
    provider   TEXT NOT NULL DEFAULT '',
    messages   INTEGER NOT NULL,
    tokens_in  INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    PRIMARY KEY (day, user_id, provider)
);
INSERT INTO ai_usage_by_provider (user_id, day, provider, messages, tokens_in, tokens_out)
    SELECT user_id, day, '', messages, tokens_in, tokens_out FROM ai_usage;
DROP TABLE ai_usage;
ALTER TABLE ai_usage_by_provider RENAME TO ai_usage;

