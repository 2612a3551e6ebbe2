package domain

// The rules both storage engines hold consultations to, checked inside
// their transactions against what is stored.

// CheckNewConsultation checks the note state a consultation starts in.
func CheckNewConsultation(c *Consultation) error {
	switch c.NoteStatus {
	case NoteNone, NoteDraft, NoteSigned:
	default:
		return Invalid("note_status", "A note is none, a draft or signed, not %q.", c.NoteStatus)
	}
	if (c.NoteStatus == NoteSigned) != !c.SignedAt.IsZero() {
		return Invalid("signed_at", "A signed note, and only a signed one, has the time it was signed.")
	}
	return nil
}

// CheckNoteSave checks the status a note is saved with.
func CheckNoteSave(status, signedBy string) error {
	switch {
	case status != NoteDraft && status != NoteSigned:
		return Invalid("note_status", "A note is saved as a draft or signed, not %q.", status)
	case status == NoteSigned && signedBy == "":
		return Invalid("signed_by", "A signed note needs the doctor who signs it.")
	}
	return nil
}

// NoteSaveConflict refuses to change a signed note, or one changed since
// the caller read version; stored and status are what is stored.
func NoteSaveConflict(status string, stored, version int64) error {
	if status == NoteSigned {
		return Errorf(ECONFLICT, "This note is signed and can no longer be changed.")
	}
	if stored != version {
		return Errorf(ECONFLICT, "The note was changed meanwhile (it is at version %d, not %d); reload it and make your changes again.", stored, version)
	}
	return nil
}

// CheckNewRecording checks a recording about to be created.
func CheckNewRecording(r *Recording) error {
	if r.Source != RecordingStream && r.Source != RecordingUpload {
		return Invalid("source", "A recording comes from a stream or an upload, not %q.", r.Source)
	}
	if r.SampleRate <= 0 {
		return Invalid("sample_rate", "The sample rate must be positive.")
	}
	return nil
}

// CheckAudioChunk checks what a chunk says of itself.
func CheckAudioChunk(c *AudioChunk) error {
	switch {
	case c.Seq < 0:
		return Invalid("seq", "A chunk's sequence number cannot be negative.")
	case c.Samples <= 0:
		return Invalid("samples", "A chunk must hold at least one sample.")
	case c.StartSample < 0:
		return Invalid("start_sample", "A chunk cannot start before the recording.")
	case c.BlobKey == "":
		return Invalid("blob_key", "A chunk must name the blob it is stored in.")
	}
	return nil
}

// AudioChunkConflict explains why c cannot be added at the end of a
// recording that holds chunks chunks and samples samples; it is nil when c
// is the next chunk. (A repeat of a stored chunk is found before.)
func AudioChunkConflict(c *AudioChunk, chunks, samples int64, ended, purged bool) error {
	switch {
	case purged:
		return Errorf(ECONFLICT, "This recording's audio has been removed by retention; no audio can be added to it.")
	case c.Seq < chunks:
		return Errorf(ECONFLICT, "Chunk %d is already stored with a different length; a chunk cannot be replaced.", c.Seq)
	case ended:
		return Errorf(ECONFLICT, "This recording has ended; no more audio can be added to it.")
	case c.Seq != chunks:
		return Errorf(ECONFLICT, "Chunk %d came when chunk %d was expected next; chunks must arrive in order without gaps.", c.Seq, chunks)
	case c.StartSample != samples:
		return Errorf(ECONFLICT, "Chunk %d starts at sample %d, but the recording holds %d samples so far.", c.Seq, c.StartSample, samples)
	}
	return nil
}

// CheckTranscript checks a move of the transcribed mark from from to upTo
// with segs.
func CheckTranscript(from, upTo int64, segs []*TranscriptSegment) error {
	if from < 0 || upTo < from {
		return Invalid("transcribed_samples", "The transcribed mark can only move forward (from %d to %d).", from, upTo)
	}
	for _, s := range segs {
		if s.StartMS < 0 || s.EndMS < s.StartMS {
			return Invalid("segments", "A transcript segment must not end before it starts (%d ms to %d ms).", s.StartMS, s.EndMS)
		}
	}
	return nil
}
