-- Search tells rare words from common ones by the planner's statistics of
-- the most common lexemes; keep up to 10,000 of them rather than 1,000.
ALTER TABLE knowledge_chunks ALTER COLUMN tsv SET STATISTICS 1000;
