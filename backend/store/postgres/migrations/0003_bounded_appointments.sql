-- Appointments last at most 8 hours. With that bound, finding the ones that
-- overlap a time range reads only the index from 8 hours before it, not the
-- doctor's whole history.
ALTER TABLE appointments ADD CONSTRAINT appointments_max_length CHECK (end_at - start_at <= interval '8 hours');
