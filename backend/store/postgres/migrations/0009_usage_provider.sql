-- Assistant use is counted per provider too, for the usage charts. Rows
-- from before this have no provider ('').

ALTER TABLE ai_usage ADD COLUMN provider text NOT NULL DEFAULT '';
ALTER TABLE ai_usage DROP CONSTRAINT ai_usage_pkey;
ALTER TABLE ai_usage ADD PRIMARY KEY (day, user_id, provider);

