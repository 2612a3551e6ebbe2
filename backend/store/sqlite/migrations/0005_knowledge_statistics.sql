-- Nothing to change here: SQLite counts a word's passages in the full-text
-- index itself. The number keeps both engines' schema versions in step.
SELECT 1;
