-- PostgreSQL stops compressing passage rows here; SQLite never compresses
-- them, so it needs nothing.
SELECT 1;
