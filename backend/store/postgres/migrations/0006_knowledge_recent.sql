-- Search ranks the newest passages holding a common word by intersecting
-- the text index with a range of ids; passage ids grow with the table, so a
-- small block-range index finds that range. Ranges are summarized as rows
-- are added rather than at the next vacuum.
CREATE INDEX knowledge_chunks_recent ON knowledge_chunks USING brin (id) WITH (pages_per_range = 32, autosummarize = on);

-- Where a hit is cited from is looked up by document and source together.
DROP INDEX knowledge_files_document;
CREATE INDEX knowledge_files_document ON knowledge_files (document_id, source_id);
