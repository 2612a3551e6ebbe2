package httpapi

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/healthhub/healthhub/backend/consult"
	"github.com/healthhub/healthhub/backend/domain"
)

type consultationList struct {
	Consultations []*domain.Consultation `json:"consultations"`
}

type consultationDetail struct {
	Consultation *domain.Consultation `json:"consultation"`
	Recordings   []*domain.Recording  `json:"recordings"`
}

type transcriptResponse struct {
	Segments   []*domain.TranscriptSegment `json:"segments"`
	Recordings []*domain.Recording         `json:"recordings"`
}

type consentRequest struct {
	ConsentHow string `json:"consent_how"`
}

type noteRequest struct {
	Note    domain.VisitNote `json:"note"`
	Version int64            `json:"version"`
}

type signRequest struct {
	Version int64 `json:"version"`
}

// consultRoutes are the routes of consultations: recording, transcript and
// the visit note.
func (s *Server) consultRoutes() []route {
	const tag = "consultations"
	return []route{
		{Method: "POST", Path: "/api/v1/consultations", Summary: "Start the consultation of an appointment (or with a patient) you treat; an appointment's existing one comes back with 200 (doctors)",
			Tag: tag, Access: accessUser, In: consult.CreateInput{}, Out: domain.Consultation{}, Status: 201, handler: s.handleCreateConsultation()},
		{Method: "GET", Path: "/api/v1/consultations", Summary: "Consultations of a patient or appointment (doctors: patients they treat; patients: their signed visit notes where the clinic allows)",
			Tag: tag, Access: accessUser, Out: consultationList{}, Query: []param{{"patient_id", "the patient's", "string"}, {"appointment_id", "the appointment's", "string"}}, handler: s.handleListConsultations()},
		{Method: "GET", Path: "/api/v1/consultations/{id}", Summary: "A consultation with its recordings (a patient: the signed note alone)", Tag: tag, Access: accessUser, Out: consultationDetail{}, handler: s.handleGetConsultation()},
		{Method: "POST", Path: "/api/v1/consultations/{id}/consent", Summary: "Note the patient's consent to recording (verbal or written)", Tag: tag, Access: accessUser, In: consentRequest{}, Out: domain.Consultation{}, handler: s.handleConsent()},
		{Method: "GET", Path: "/api/v1/consultations/{id}/transcript", Summary: "The consultation's transcript, with speakers and times", Tag: tag, Access: accessUser, Out: transcriptResponse{}, handler: s.handleTranscript()},
		{Method: "GET", Path: "/api/v1/consultations/{id}/audio", Summary: "WebSocket taking the microphone's audio (16 kHz mono PCM frames, each stored before it is acknowledged) and sending the transcript back as it is made; token as Bearer header or ?access_token=",
			Tag: tag, Access: accessWebSocket, handler: s.handleAudioWS()},
		{Method: "POST", Path: "/api/v1/consultations/{id}/recordings", Summary: "Upload a recording (WAV, FLAC, Ogg/Opus, MP3, M4A; at most two hours) as the request body",
			Tag: tag, Access: accessUser, Out: domain.Recording{}, Status: 201, Query: []param{{"filename", "the file's name", "string"}}, handler: s.handleUploadRecording()},
		{Method: "GET", Path: "/api/v1/consultations/{id}/recordings/{rid}/audio", Summary: "Play a recording: 16 kHz mono WAV", Tag: tag, Access: accessUser, handler: s.handlePlayback()},
		{Method: "POST", Path: "/api/v1/consultations/{id}/draft", Summary: "Draft the visit note from the transcript (the clinic's model, redacted when external; offline, the transcript's own sentences)",
			Tag: tag, Access: accessUser, Out: domain.Consultation{}, handler: s.handleDraftNote()},
		{Method: "PUT", Path: "/api/v1/consultations/{id}/note", Summary: "Save the visit note as edited, on the version read (409 when it changed or is signed)", Tag: tag, Access: accessUser, In: noteRequest{}, Out: domain.Consultation{}, handler: s.handleSaveNote()},
		{Method: "POST", Path: "/api/v1/consultations/{id}/sign", Summary: "Sign the visit note as it stands at the version read: it joins the medical record and no longer changes", Tag: tag, Access: accessUser, In: signRequest{}, Out: domain.Consultation{}, handler: s.handleSignNote()},
		{Method: "GET", Path: "/api/v1/transcription/settings", Summary: "The transcription engine and visit-note settings (admin)", Tag: tag, Access: accessUser, Out: consult.Settings{}, handler: s.handleTranscriptionSettings()},
		{Method: "PUT", Path: "/api/v1/transcription/settings", Summary: "Choose the transcription engine (none, openai-compatible, aws) and whether patients read their signed notes (admin)", Tag: tag, Access: accessUser, In: consult.SettingsInput{}, Out: consult.Settings{}, handler: s.handleSetTranscriptionSettings()},
	}
}

func (s *Server) needConsult() error {
	if s.consult == nil {
		return domain.Unavailable(nil, "Consultations are not available on this server.")
	}
	return nil
}

// consultAPI wraps a consultation handler: the service must be there.
func (s *Server) consultAPI(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return s.api(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.needConsult(); err != nil {
			return err
		}
		return fn(w, r)
	})
}

func (s *Server) handleCreateConsultation() http.Handler {
	return s.consultAPI(func(w http.ResponseWriter, r *http.Request) error {
		var in consult.CreateInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		c, created, err := s.consult.Create(r.Context(), in)
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		writeJSON(w, status, c)
		return nil
	})
}

func (s *Server) handleListConsultations() http.Handler {
	return s.consultAPI(func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		cs, err := s.consult.List(r.Context(), consult.ListFilter{PatientID: q.Get("patient_id"), AppointmentID: q.Get("appointment_id")})
		if err != nil {
			return err
		}
		if cs == nil {
			cs = []*domain.Consultation{}
		}
		writeJSON(w, http.StatusOK, consultationList{Consultations: cs})
		return nil
	})
}

func (s *Server) handleGetConsultation() http.Handler {
	return s.consultAPI(func(w http.ResponseWriter, r *http.Request) error {
		c, recs, err := s.consult.Get(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		if recs == nil {
			recs = []*domain.Recording{}
		}
		writeJSON(w, http.StatusOK, consultationDetail{Consultation: c, Recordings: recs})
		return nil
	})
}

func (s *Server) handleConsent() http.Handler {
	return s.consultAPI(func(w http.ResponseWriter, r *http.Request) error {
		var in consentRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		c, err := s.consult.NoteConsent(r.Context(), r.PathValue("id"), in.ConsentHow)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})
}

func (s *Server) handleTranscript() http.Handler {
	return s.consultAPI(func(w http.ResponseWriter, r *http.Request) error {
		segs, recs, err := s.consult.Transcript(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		if segs == nil {
			segs = []*domain.TranscriptSegment{}
		}
		if recs == nil {
			recs = []*domain.Recording{}
		}
		writeJSON(w, http.StatusOK, transcriptResponse{Segments: segs, Recordings: recs})
		return nil
	})
}

func (s *Server) handleUploadRecording() http.Handler {
	return s.consultAPI(func(w http.ResponseWriter, r *http.Request) error {
		body := http.MaxBytesReader(w, r.Body, consult.MaxUploadBytes+1)
		rec, err := s.consult.Upload(r.Context(), r.PathValue("id"), r.URL.Query().Get("filename"), r.Header.Get("Content-Type"), body)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &domain.Error{Code: domain.ETOOLARGE, Message: "The recording is larger than the 512 MB allowed."}
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, rec)
		return nil
	})
}

func (s *Server) handlePlayback() http.Handler {
	return s.consultAPI(func(w http.ResponseWriter, r *http.Request) error {
		rec, write, err := s.consult.Playback(r.Context(), r.PathValue("id"), r.PathValue("rid"))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "audio/wav")
		w.Header().Set("Content-Length", strconv.FormatInt(44+2*rec.Samples, 10))
		w.Header().Set("Cache-Control", "no-store")
		if err := write(w); err != nil {
			// The status is sent: the client sees a short file.
			s.logger.Error("consult: playback failed", "recording_id", rec.ID, "err", err)
		}
		return nil
	})
}

func (s *Server) handleDraftNote() http.Handler {
	return s.consultAPI(func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.consult.Draft(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})
}

func (s *Server) handleSaveNote() http.Handler {
	return s.consultAPI(func(w http.ResponseWriter, r *http.Request) error {
		var in noteRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		c, err := s.consult.SaveNote(r.Context(), r.PathValue("id"), in.Version, in.Note)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})
}

func (s *Server) handleSignNote() http.Handler {
	return s.consultAPI(func(w http.ResponseWriter, r *http.Request) error {
		var in signRequest
		if err := decode(w, r, &in); err != nil {
			return err
		}
		c, err := s.consult.Sign(r.Context(), r.PathValue("id"), in.Version)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, c)
		return nil
	})
}

func (s *Server) handleTranscriptionSettings() http.Handler {
	return s.consultAPI(func(w http.ResponseWriter, r *http.Request) error {
		st, err := s.consult.Settings(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	})
}

func (s *Server) handleSetTranscriptionSettings() http.Handler {
	return s.consultAPI(func(w http.ResponseWriter, r *http.Request) error {
		var in consult.SettingsInput
		if err := decode(w, r, &in); err != nil {
			return err
		}
		st, err := s.consult.UpdateSettings(r.Context(), in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, st)
		return nil
	})
}

// Messages of the audio WebSocket.
type audioControl struct {
	Type        string `json:"type"` // start, stop
	RecordingID string `json:"recording_id"`
	SampleRate  int    `json:"sample_rate"`
}

type audioReply struct {
	Type               string                    `json:"type"` // ready, ack, segment, transcribing, stopped, error
	RecordingID        string                    `json:"recording_id,omitempty"`
	NextSeq            *int64                    `json:"next_seq,omitempty"`
	Seq                *int64                    `json:"seq,omitempty"`
	Samples            *int64                    `json:"samples,omitempty"`
	Segment            *domain.TranscriptSegment `json:"segment,omitempty"`
	TranscribedSamples int64                     `json:"transcribed_samples,omitempty"`
	Code               string                    `json:"code,omitempty"`
	Message            string                    `json:"message,omitempty"`
	Error              string                    `json:"error,omitempty"`
}

// audioFrameMax is the largest binary frame: an 8-byte seq and one second
// of audio.
const audioFrameMax = 8 + 2*consult.MaxFrameSamples

// audioIdle ends a connection that sends nothing for this long.
const audioIdle = 2 * time.Minute

func (s *Server) handleAudioWS() http.Handler {
	return s.consultAPI(func(w http.ResponseWriter, r *http.Request) error {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			writeErrorStatus(w, r, s.logger, http.StatusUpgradeRequired, &domain.Error{Code: domain.EINVALID,
				Message: "This endpoint is a WebSocket: connect with a WebSocket client (Upgrade: websocket)."})
			return nil
		}
		p := domain.PrincipalFrom(r.Context())
		if p.MFAPending {
			return &domain.Error{Code: domain.EFORBIDDEN, Message: "Your role requires two-factor authentication. Set it up first."}
		}
		id := r.PathValue("id")
		// Decide before upgrading, so that a refusal is a plain HTTP answer.
		if _, err := s.consult.Listen(r.Context(), id); err != nil {
			return err
		}
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.cfg.AllowedOrigins, CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			s.logger.Warn("consult: audio connection refused", "user_id", p.UserID, "origin", r.Header.Get("Origin"), "err", err)
			return nil
		}
		conn.SetReadLimit(audioFrameMax)
		ctx := context.WithoutCancel(r.Context())
		s.serveAudio(ctx, conn, id)
		return nil
	})
}

// serveAudio runs one audio connection: a start message, binary frames
// each acknowledged once stored, and stop; the consultation's transcript
// segments are sent as they are stored.
func (s *Server) serveAudio(ctx context.Context, conn *websocket.Conn, id string) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One writer: replies in order, and a closing reply closes the
	// connection after it is written.
	type outMsg struct {
		reply audioReply
		close websocket.StatusCode // 0: keep open
	}
	out := make(chan outMsg, 256)
	writeDone := make(chan struct{})
	go func() {
		defer close(writeDone)
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-out:
				b, _ := json.Marshal(m.reply)
				wctx, c := context.WithTimeout(ctx, 30*time.Second)
				err := conn.Write(wctx, websocket.MessageText, b)
				c()
				if err != nil || m.close != 0 {
					if err == nil {
						conn.Close(m.close, m.reply.Code)
					}
					cancel()
					return
				}
			}
		}
	}()
	send := func(m audioReply) bool {
		select {
		case out <- outMsg{reply: m}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	// closeWith sends a last reply, closes the connection after it and
	// waits for the writer to finish.
	closeWith := func(m audioReply, code websocket.StatusCode) {
		select {
		case out <- outMsg{reply: m, close: code}:
		case <-ctx.Done():
		}
		<-writeDone
		conn.CloseNow()
	}
	events, unsubscribe := s.consult.Subscribe(id)
	defer unsubscribe()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-events:
				send(audioReply{Type: ev.Type, Segment: ev.Segment, RecordingID: ev.RecordingID, TranscribedSamples: ev.TranscribedSamples, Error: ev.Error})
			}
		}
	}()
	fail := func(err error) {
		code, msg := domain.EINTERNAL, "Something went wrong storing the audio; reconnect and send it again."
		var de *domain.Error
		if errors.As(err, &de) {
			code, msg = de.Code, de.Message
		} else {
			s.logger.Error("consult: audio", "consultation_id", id, "err", err)
		}
		s.logger.Info("consult: audio refused", "consultation_id", id, "code", code)
		closeWith(audioReply{Type: "error", Code: code, Message: msg}, websocket.StatusPolicyViolation)
	}
	var sess *consult.Session
	for {
		rctx, c := context.WithTimeout(ctx, audioIdle)
		typ, b, err := conn.Read(rctx)
		c()
		if err != nil {
			conn.CloseNow()
			cancel()
			<-writeDone
			return
		}
		switch typ {
		case websocket.MessageText:
			var m audioControl
			if err := json.Unmarshal(b, &m); err != nil {
				fail(domain.Invalid("message", "Control messages are JSON: {\"type\":\"start\",\"sample_rate\":16000} or {\"type\":\"stop\"}."))
				return
			}
			switch m.Type {
			case "start":
				if sess, err = s.consult.Record(ctx, id, m.RecordingID, m.SampleRate); err != nil {
					fail(err)
					return
				}
				rec := sess.Recording()
				send(audioReply{Type: "ready", RecordingID: rec.ID, NextSeq: &rec.Chunks, Samples: &rec.Samples})
			case "stop":
				if sess == nil {
					fail(domain.Invalid("type", "Nothing is being recorded: send start first."))
					return
				}
				if err := sess.Stop(ctx); err != nil {
					fail(err)
					return
				}
				rec := sess.Recording()
				closeWith(audioReply{Type: "stopped", RecordingID: rec.ID, Samples: &rec.Samples}, websocket.StatusNormalClosure)
				return
			case "ping":
				send(audioReply{Type: "pong"})
			default:
				fail(domain.Invalid("type", "Unknown message type %q; send start, stop or audio frames.", m.Type))
				return
			}
		case websocket.MessageBinary:
			if sess == nil {
				fail(domain.Invalid("type", "Send start (with the sample rate) before audio."))
				return
			}
			if len(b) < 8 {
				fail(domain.Invalid("audio", "An audio frame starts with its 8-byte sequence number."))
				return
			}
			seq := int64(binary.BigEndian.Uint64(b[:8]))
			n, err := sess.Add(ctx, seq, b[8:])
			if err != nil {
				fail(err)
				return
			}
			send(audioReply{Type: "ack", Seq: &seq, Samples: &n})
		}
	}
}
