package httpapi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/llm/llmtest"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/transcribe"
	"github.com/healthhub/healthhub/backend/transcribe/transcribetest"
)

// clinic is a doctor with a patient they treat (an appointment today), a
// patient they do not, and the tokens of everyone.
type clinic struct {
	a                        *api
	doctor, admin            string // tokens
	patient, stranger        string
	patientID, strangerID    string
	appointmentID, doctorUID string
}

func newClinic(t *testing.T, a *api) *clinic {
	t.Helper()
	ctx := domain.WithPrincipal(context.Background(), domain.System)
	c := &clinic{a: a}
	admin := a.user(domain.RoleAdmin)
	c.admin = a.login(admin.Email).AccessToken
	d, err := a.Portal.CreateDoctor(ctx, portal.NewDoctor{Email: a.email("doc"), Password: testPassword, Name: "Doctor Who", Specialization: "General practice"})
	if err != nil {
		t.Fatal(err)
	}
	var weekly []domain.WeeklyHours
	for day := range 7 {
		weekly = append(weekly, domain.WeeklyHours{Weekday: day, Start: "08:00", End: "18:00"})
	}
	if _, err := a.Portal.SetAvailability(ctx, d.ID, domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 30, Weekly: weekly}); err != nil {
		t.Fatal(err)
	}
	du, _ := a.Auth.User(ctx, d.UserID)
	c.doctor, c.doctorUID = a.login(du.Email).AccessToken, d.UserID
	mk := func(name string) (*domain.Patient, string) {
		dob, email := "1980-02-03", a.email("pat")
		p, err := a.Portal.CreatePatient(ctx, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &dob, Email: &email}, Password: testPassword}, false)
		if err != nil {
			t.Fatal(err)
		}
		return p, a.login(email).AccessToken
	}
	p, tok := mk("Ada Lovelace")
	c.patientID, c.patient = p.ID, tok
	q, tok2 := mk("Grace Hopper")
	c.strangerID, c.stranger = q.ID, tok2
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(34 * time.Hour) // tomorrow 10:00
	b, err := a.Portal.Book(ctx, portal.BookRequest{DoctorID: d.ID, PatientID: p.ID, Start: start, End: start.Add(30 * time.Minute)}, "")
	if err != nil {
		t.Fatal(err)
	}
	c.appointmentID = b.Appointment.ID
	return c
}

func (c *clinic) start(t *testing.T, consent bool) *domain.Consultation {
	t.Helper()
	res := c.a.do("POST", "/api/v1/consultations", c.doctor, map[string]any{"appointment_id": c.appointmentID, "consent": consent, "consent_how": "verbal"})
	if res.Status != 201 {
		t.Fatalf("start consultation: %d %s", res.Status, res.Body)
	}
	var out domain.Consultation
	json.Unmarshal(res.Body, &out)
	return &out
}

// useRecogniser points the clinic at a recogniser through the admin API.
func (c *clinic) useRecogniser(t *testing.T, url string) {
	t.Helper()
	res := c.a.do("PUT", "/api/v1/transcription/settings", c.admin, map[string]any{"engine": "openai-compatible", "base_url": url + "/v1", "model": "whisper-small", "external": false})
	if res.Status != 200 {
		t.Fatalf("settings: %d %s", res.Status, res.Body)
	}
}

type audioMsg struct {
	Type               string                    `json:"type"`
	RecordingID        string                    `json:"recording_id"`
	NextSeq            *int64                    `json:"next_seq"`
	Seq                *int64                    `json:"seq"`
	Samples            *int64                    `json:"samples"`
	Segment            *domain.TranscriptSegment `json:"segment"`
	TranscribedSamples int64                     `json:"transcribed_samples"`
	Code               string                    `json:"code"`
	Message            string                    `json:"message"`
}

type audioConn struct {
	t  *testing.T
	ws *websocket.Conn
}

func (c *clinic) dialAudio(t *testing.T, ctx context.Context, id, token string) (*audioConn, *http.Response, error) {
	ws, res, err := websocket.Dial(ctx, strings.Replace(c.a.URL, "http", "ws", 1)+"/api/v1/consultations/"+id+"/audio?access_token="+token, nil)
	if err != nil {
		return nil, res, err
	}
	ws.SetReadLimit(1 << 20)
	return &audioConn{t: t, ws: ws}, res, nil
}

func (ac *audioConn) send(ctx context.Context, v any) {
	b, _ := json.Marshal(v)
	if err := ac.ws.Write(ctx, websocket.MessageText, b); err != nil {
		ac.t.Fatal(err)
	}
}

func (ac *audioConn) frame(ctx context.Context, seq int64, pcm []int16) error {
	b := make([]byte, 8+2*len(pcm))
	binary.BigEndian.PutUint64(b, uint64(seq))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[8+2*i:], uint16(v))
	}
	return ac.ws.Write(ctx, websocket.MessageBinary, b)
}

// next reads messages until one of type typ (segments met on the way go to
// segs).
func (ac *audioConn) next(ctx context.Context, typ string, segs *[]*domain.TranscriptSegment) audioMsg {
	ac.t.Helper()
	for {
		_, b, err := ac.ws.Read(ctx)
		if err != nil {
			ac.t.Fatalf("waiting for %s: %v", typ, err)
		}
		var m audioMsg
		json.Unmarshal(b, &m)
		if m.Type == "segment" && segs != nil {
			*segs = append(*segs, m.Segment)
		}
		if m.Type == typ {
			return m
		}
		if m.Type == "error" {
			ac.t.Fatalf("waiting for %s: error %s: %s", typ, m.Code, m.Message)
		}
	}
}

func frames(pcm []int16) [][]int16 {
	var out [][]int16
	for i := 0; i < len(pcm); i += transcribe.SampleRate {
		out = append(out, pcm[i:min(i+transcribe.SampleRate, len(pcm))])
	}
	return out
}

// TestConsultationRecordedLive is the doctor's consultation over the API:
// audio streamed over the WebSocket, stored before it is acknowledged, a
// connection cut mid-stream and resumed with nothing lost or doubled, the
// transcript coming back live with every word once, the note drafted,
// edited, signed, and read by the patient, never by another.
func TestConsultationRecordedLive(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			a := newAPI(t, e.Open(t))
			c := newClinic(t, a)
			rec := transcribetest.NewServer()
			defer rec.Close()
			c.useRecogniser(t, rec.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			go a.Consult.Run(ctx)

			// No consent, no recording.
			cons := c.start(t, false)
			ac, _, err := c.dialAudio(t, ctx, cons.ID, c.doctor)
			if err != nil {
				t.Fatal(err)
			}
			ac.send(ctx, map[string]any{"type": "start", "sample_rate": 16000})
			if m := ac.next(ctx, "error", nil); !strings.Contains(m.Message, "consent") {
				t.Fatalf("recording without consent: %+v", m)
			}
			if res := a.do("POST", "/api/v1/consultations/"+cons.ID+"/consent", c.doctor, map[string]string{"consent_how": "verbal"}); res.Status != 200 {
				t.Fatalf("consent: %d %s", res.Status, res.Body)
			}

			events, unsubscribe := a.Consult.Subscribe(cons.ID)
			defer unsubscribe()
			pcm, words := transcribetest.Recording(24)
			fs := frames(pcm)
			var segs []*domain.TranscriptSegment
			ac, _, err = c.dialAudio(t, ctx, cons.ID, c.doctor)
			if err != nil {
				t.Fatal(err)
			}
			ac.send(ctx, map[string]any{"type": "start", "sample_rate": 16000})
			ready := ac.next(ctx, "ready", &segs)
			if *ready.NextSeq != 0 {
				t.Fatalf("a new recording's next seq is %d", *ready.NextSeq)
			}
			// The first half, acknowledged one by one; then two frames
			// sent and the connection cut before their acknowledgements.
			half := len(fs) / 2
			for i := 0; i < half; i++ {
				if err := ac.frame(ctx, int64(i), fs[i]); err != nil {
					t.Fatal(err)
				}
				if m := ac.next(ctx, "ack", &segs); *m.Seq != int64(i) {
					t.Fatalf("ack %d for frame %d", *m.Seq, i)
				}
			}
			ac.frame(ctx, int64(half), fs[half])
			ac.frame(ctx, int64(half+1), fs[half+1])
			ac.ws.CloseNow()

			// Resume: the server says where to go on; frames it already has
			// are acknowledged again without being stored twice.
			ac, _, err = c.dialAudio(t, ctx, cons.ID, c.doctor)
			if err != nil {
				t.Fatal(err)
			}
			ac.send(ctx, map[string]any{"type": "start", "recording_id": ready.RecordingID, "sample_rate": 16000})
			again := ac.next(ctx, "ready", &segs)
			from := *again.NextSeq
			if from < int64(half) || from > int64(half+2) {
				t.Fatalf("resume from %d, after %d acknowledged frames", from, half)
			}
			for i := int64(half); i < int64(len(fs)); i++ { // from the first unacknowledged
				if err := ac.frame(ctx, i, fs[i]); err != nil {
					t.Fatal(err)
				}
				if m := ac.next(ctx, "ack", &segs); *m.Seq != i {
					t.Fatalf("ack %d for frame %d", *m.Seq, i)
				}
			}
			ac.send(ctx, map[string]string{"type": "stop"})
			stopped := ac.next(ctx, "stopped", &segs)
			if *stopped.Samples != int64(len(pcm)) {
				t.Fatalf("stored %d samples of %d sent", *stopped.Samples, len(pcm))
			}

			// The stored file is exactly what was sent.
			res := a.do("GET", "/api/v1/consultations/"+cons.ID+"/recordings/"+ready.RecordingID+"/audio", c.doctor, nil)
			if res.Status != 200 || res.Header.Get("Content-Type") != "audio/wav" {
				t.Fatalf("playback: %d %s", res.Status, res.Header)
			}
			got, rate, err := transcribe.DecodeWAV(bytes.NewReader(res.Body), 64<<20)
			if err != nil || rate != 16000 || len(got) != len(pcm) {
				t.Fatalf("playback: %d samples at %d (%v), want %d", len(got), rate, err, len(pcm))
			}
			for i := range pcm {
				if got[i] != pcm[i] {
					t.Fatalf("sample %d is %d, sent %d", i, got[i], pcm[i])
				}
			}

			// Every word once, in order, at its time: from the transcript
			// the server keeps (the live segments are the same ones).
			var tr struct {
				Segments   []*domain.TranscriptSegment `json:"segments"`
				Recordings []*domain.Recording         `json:"recordings"`
			}
			for {
				tr.Segments, tr.Recordings = nil, nil
				res = a.do("GET", "/api/v1/consultations/"+cons.ID+"/transcript", c.doctor, nil)
				json.Unmarshal(res.Body, &tr)
				if len(tr.Recordings) == 1 && tr.Recordings[0].TranscribedSamples == int64(len(pcm)) {
					break
				}
				select {
				case <-events: // progress: look again
				case <-ctx.Done():
					t.Fatalf("transcript never caught up: %+v", tr.Recordings)
				}
			}
			if len(tr.Segments) != len(words) {
				var got []string
				for _, s := range tr.Segments {
					got = append(got, fmt.Sprintf("%s@%d", s.Text, s.StartMS))
				}
				t.Fatalf("%d segments for %d words: %v", len(tr.Segments), len(words), got)
			}
			for i, w := range words {
				s := tr.Segments[i]
				if s.Text != transcribetest.Text(w.N) {
					t.Fatalf("segment %d is %q, want %q", i, s.Text, transcribetest.Text(w.N))
				}
				if d := time.Duration(s.StartMS)*time.Millisecond - w.Start; d.Abs() > 60*time.Millisecond {
					t.Fatalf("segment %d starts at %d ms, the word at %v", i, s.StartMS, w.Start)
				}
			}
			for _, s := range segs {
				if s.ConsultationID != cons.ID {
					t.Fatalf("a live segment of another consultation: %+v", s)
				}
			}

			// Draft (offline), edit, sign; the patient reads it, another
			// patient does not.
			res = a.do("POST", "/api/v1/consultations/"+cons.ID+"/draft", c.doctor, nil)
			var drafted domain.Consultation
			json.Unmarshal(res.Body, &drafted)
			if res.Status != 200 || drafted.NoteStatus != domain.NoteDraft || drafted.DraftedBy != "offline" || !strings.Contains(drafted.Note.History+drafted.Note.Reason, "Word1 word2 word3") {
				t.Fatalf("draft: %d %s", res.Status, res.Body)
			}
			if res := a.do("GET", "/api/v1/consultations/"+cons.ID, c.patient, nil); res.Status != 404 {
				t.Fatalf("the patient reads a draft: %d %s", res.Status, res.Body)
			}
			note := drafted.Note
			note.Plan = "Rest and fluids; come back in a week."
			res = a.do("PUT", "/api/v1/consultations/"+cons.ID+"/note", c.doctor, map[string]any{"version": drafted.NoteVersion, "note": note})
			var edited domain.Consultation
			json.Unmarshal(res.Body, &edited)
			if res.Status != 200 || edited.Note.Plan != note.Plan {
				t.Fatalf("edit: %d %s", res.Status, res.Body)
			}
			if res := a.do("PUT", "/api/v1/consultations/"+cons.ID+"/note", c.doctor, map[string]any{"version": drafted.NoteVersion, "note": note}); res.Status != 409 {
				t.Fatalf("an edit on a stale version: %d %s", res.Status, res.Body)
			}
			res = a.do("POST", "/api/v1/consultations/"+cons.ID+"/sign", c.doctor, map[string]any{"version": edited.NoteVersion})
			if res.Status != 200 {
				t.Fatalf("sign: %d %s", res.Status, res.Body)
			}
			if res := a.do("PUT", "/api/v1/consultations/"+cons.ID+"/note", c.doctor, map[string]any{"version": edited.NoteVersion + 1, "note": note}); res.Status != 409 {
				t.Fatalf("an edit of a signed note: %d %s", res.Status, res.Body)
			}
			res = a.do("GET", "/api/v1/consultations?patient_id="+c.patientID, c.patient, nil)
			var list struct {
				Consultations []*domain.Consultation `json:"consultations"`
			}
			json.Unmarshal(res.Body, &list)
			if res.Status != 200 || len(list.Consultations) != 1 || list.Consultations[0].Note.Plan != note.Plan || list.Consultations[0].DoctorName != "Doctor Who" {
				t.Fatalf("the patient's notes: %d %s", res.Status, res.Body)
			}
			if res := a.do("GET", "/api/v1/consultations/"+cons.ID+"/transcript", c.patient, nil); res.Status != 403 {
				t.Fatalf("the patient reads the transcript: %d", res.Status)
			}
			for _, path := range []string{"/api/v1/consultations/" + cons.ID, "/api/v1/consultations?patient_id=" + c.patientID} {
				if res := a.do("GET", path, c.stranger, nil); res.Status != 403 {
					t.Fatalf("another patient: GET %s: %d %s", path, res.Status, res.Body)
				}
			}
			// Every read and change is in the patient's audit trail.
			evs, err := a.DB.ListAudit(context.Background(), domain.AuditFilter{PatientID: c.patientID, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, ev := range evs {
				seen[ev.Action+" "+ev.ResourceType] = true
			}
			for _, want := range []string{"create consultation", "update consultation", "create recording", "update recording", "export recording",
				"read transcript", "create visit_note", "update visit_note", "read visit_note", "search consultation"} {
				if !seen[want] {
					t.Errorf("no %q event naming the patient; have %v", want, seen)
				}
			}
		})
	}
}

// TestConsultationBadAudio: wrong sample rate, garbage and truncated
// frames, garbage and truncated files, a two-hour upload and a patient the
// doctor does not treat are refused with a message, and nothing is stored.
func TestConsultationBadAudio(t *testing.T) {
	a := newAPI(t, engines(t)[0].Open(t))
	c := newClinic(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cons := c.start(t, true)

	refused := func(name string, steps func(ac *audioConn), wantCode, wantText string) {
		t.Helper()
		ac, _, err := c.dialAudio(t, ctx, cons.ID, c.doctor)
		if err != nil {
			t.Fatal(err)
		}
		defer ac.ws.CloseNow()
		steps(ac)
		m := ac.next(ctx, "error", nil)
		if m.Code != wantCode || !strings.Contains(m.Message, wantText) {
			t.Errorf("%s: %s %q, want %s with %q", name, m.Code, m.Message, wantCode, wantText)
		}
	}
	refused("44.1 kHz", func(ac *audioConn) { ac.send(ctx, map[string]any{"type": "start", "sample_rate": 44100}) }, "invalid", "16 kHz")
	refused("audio before start", func(ac *audioConn) { ac.frame(ctx, 0, make([]int16, 100)) }, "invalid", "start")
	refused("an odd byte", func(ac *audioConn) {
		ac.send(ctx, map[string]any{"type": "start", "sample_rate": 16000})
		ac.next(ctx, "ready", nil)
		ac.ws.Write(ctx, websocket.MessageBinary, []byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3})
	}, "invalid", "odd")
	refused("a truncated frame", func(ac *audioConn) {
		ac.send(ctx, map[string]any{"type": "start", "sample_rate": 16000})
		ac.next(ctx, "ready", nil)
		ac.ws.Write(ctx, websocket.MessageBinary, []byte{0, 0, 0})
	}, "invalid", "sequence number")
	refused("a frame out of order", func(ac *audioConn) {
		ac.send(ctx, map[string]any{"type": "start", "sample_rate": 16000})
		ac.next(ctx, "ready", nil)
		ac.frame(ctx, 5, make([]int16, 100))
	}, "conflict", "in order")
	refused("garbage", func(ac *audioConn) { ac.ws.Write(ctx, websocket.MessageText, []byte("{not json")) }, "invalid", "JSON")

	upload := func(name, ct string, body []byte, want int, wantText string) {
		t.Helper()
		req, _ := http.NewRequest("POST", a.URL+"/api/v1/consultations/"+cons.ID+"/recordings?filename="+name, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+c.doctor)
		req.Header.Set("Content-Type", ct)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.NewDecoder(res.Body).Decode(&e)
		if res.StatusCode != want || !strings.Contains(e.Error.Message, wantText) {
			t.Errorf("upload %s: %d %q, want %d with %q", name, res.StatusCode, e.Error.Message, want, wantText)
		}
	}
	wav := transcribe.WAVBytes(make([]int16, 16000), 16000)
	upload("garbage.wav", "audio/wav", []byte("RIFF\x00\x00this is not audio at all"), 400, "Upload a WAV")
	upload("truncated.wav", "audio/wav", wav[:30], 400, "Upload a WAV")
	upload("empty.mp3", "audio/mpeg", nil, 400, "")
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is needed for this test (make test installs it)")
	}
	long := filepath.Join(t.TempDir(), "long.flac")
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
		"-t", "7201", "-c:a", "flac", long).CombinedOutput(); err != nil {
		t.Fatalf("make a two-hour recording: %v %s", err, out)
	}
	b, err := os.ReadFile(long)
	if err != nil {
		t.Fatal(err)
	}
	upload("long.flac", "audio/flac", b, 413, "longer than")

	// A patient the doctor does not treat: no consultation at all.
	res := a.do("POST", "/api/v1/consultations", c.doctor, map[string]any{"patient_id": c.strangerID, "consent": true, "consent_how": "verbal"})
	if res.Status != 403 {
		t.Fatalf("a consultation with a patient the doctor does not treat: %d %s", res.Status, res.Body)
	}
	n, err := a.DB.ListConsultations(context.Background(), domain.ConsultFilter{PatientID: c.strangerID})
	if err != nil || len(n) != 0 {
		t.Fatalf("stored for the other patient: %d %v", len(n), err)
	}
	// Nothing of the refused audio was stored.
	recs, err := a.DB.Recordings(context.Background(), cons.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Samples != 0 || r.Source == domain.RecordingUpload {
			t.Fatalf("a refused recording left audio: %+v", r)
		}
	}
	// The good upload works and is transcribed once an engine is chosen.
	upload("ok.wav", "audio/wav", wav, 201, "")
}

// TestVisitNoteDraftedByAnExternalModel: the transcript leaves for an
// external model with the patient's identifiers replaced, and the draft
// that comes back has them put back; the use is audited without the text.
func TestVisitNoteDraftedByAnExternalModel(t *testing.T) {
	a := newAPI(t, engines(t)[0].Open(t))
	c := newClinic(t, a)
	model := llmtest.OpenAI(llmtest.Behaviour{Answer: []string{"REASON:\nCough, [PATI", "ENT_1] worried.\nHISTORY:\nSince Monday.\n",
		"FINDINGS:\nChest clear.\nPLAN:\nRest; we call [PHONE_1] on Friday."}})
	defer model.Close()
	res := a.do("POST", "/api/v1/ai/providers", c.admin, map[string]any{"name": "cloud", "kind": "openai", "external": true, "default": true,
		"base_url": model.URL + "/v1", "api_key": "sk-test", "models": []map[string]any{{"name": "gpt-test", "roles": domain.Roles}}})
	if res.Status != 201 {
		t.Fatalf("provider: %d %s", res.Status, res.Body)
	}
	cons := c.start(t, true)
	ctx := domain.WithPrincipal(context.Background(), &domain.Principal{UserID: c.doctorUID, Role: domain.RoleDoctor})
	rec, err := a.Consult.Upload(ctx, cons.ID, "visit.wav", "audio/wav", bytes.NewReader(transcribe.WAVBytes(make([]int16, 16000), 16000)))
	if err != nil {
		t.Fatal(err)
	}
	said := []string{"Ada Lovelace has had a cough since Monday.", "Call me on 555-214-8830 if it gets worse."}
	var segs []*domain.TranscriptSegment
	for i, text := range said {
		segs = append(segs, &domain.TranscriptSegment{ID: fmt.Sprint("s", i), RecordingID: rec.ID, ConsultationID: cons.ID, StartMS: int64(i) * 400, EndMS: int64(i)*400 + 300, Speaker: "spk_" + fmt.Sprint(i), Text: text, CreatedAt: time.Now()})
	}
	if ok, err := a.DB.AddTranscript(ctx, rec.ID, 0, rec.Samples, segs, "test", time.Now()); err != nil || !ok {
		t.Fatalf("transcript: %v %v", ok, err)
	}
	res = a.do("POST", "/api/v1/consultations/"+cons.ID+"/draft", c.doctor, nil)
	var drafted domain.Consultation
	json.Unmarshal(res.Body, &drafted)
	if res.Status != 200 {
		t.Fatalf("draft: %d %s", res.Status, res.Body)
	}
	want := domain.VisitNote{Reason: "Cough, Ada Lovelace worried.", History: "Since Monday.", Findings: "Chest clear.", Plan: "Rest; we call 555-214-8830 on Friday."}
	if drafted.Note != want || drafted.DraftedBy != "cloud/gpt-test" {
		t.Fatalf("draft: %+v by %q", drafted.Note, drafted.DraftedBy)
	}
	reqs := model.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests to the model", len(reqs))
	}
	for _, id := range []string{"Ada", "Lovelace", "555-214-8830"} {
		if strings.Contains(reqs[0].Body, id) {
			t.Errorf("%q reached the external model:\n%s", id, reqs[0].Body)
		}
	}
	if !strings.Contains(reqs[0].Body, "[PATIENT_1]") || !strings.Contains(reqs[0].Body, "cough since Monday") {
		t.Fatalf("what was sent:\n%s", reqs[0].Body)
	}
	res = a.do("GET", "/api/v1/audit/events?resource_type=completion", c.admin, nil)
	if !strings.Contains(string(res.Body), "purpose=visit_note") || !strings.Contains(string(res.Body), "external=true") || strings.Contains(string(res.Body), "Lovelace") {
		t.Fatalf("audit: %s", res.Body)
	}
}

// TestTranscriptionCatchesUp: with the engine down the recording is kept
// and the failure shown; once the engine is back the transcript catches up
// with every word once.
func TestTranscriptionCatchesUp(t *testing.T) {
	a := newAPI(t, engines(t)[0].Open(t))
	c := newClinic(t, a)
	rec := transcribetest.NewServer()
	defer rec.Close()
	rec.Down.Store(true)
	c.useRecogniser(t, rec.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	go a.Consult.Run(ctx)
	cons := c.start(t, true)
	events, unsubscribe := a.Consult.Subscribe(cons.ID)
	defer unsubscribe()

	pcm, words := transcribetest.Recording(30)
	req, _ := http.NewRequest("POST", a.URL+"/api/v1/consultations/"+cons.ID+"/recordings?filename=visit.wav", bytes.NewReader(transcribe.WAVBytes(pcm, 16000)))
	req.Header.Set("Authorization", "Bearer "+c.doctor)
	req.Header.Set("Content-Type", "audio/wav")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("upload: %v %v", res.StatusCode, err)
	}
	res.Body.Close()
	for ev := range events {
		if ev.Error != "" {
			if !strings.Contains(ev.Error, "503") && !strings.Contains(strings.ToLower(ev.Error), "unavailable") && !strings.Contains(ev.Error, "loading") {
				t.Fatalf("the engine's failure as shown: %q", ev.Error)
			}
			break
		}
	}
	var tr struct {
		Segments   []*domain.TranscriptSegment `json:"segments"`
		Recordings []*domain.Recording         `json:"recordings"`
	}
	json.Unmarshal(a.do("GET", "/api/v1/consultations/"+cons.ID+"/transcript", c.doctor, nil).Body, &tr)
	if len(tr.Recordings) != 1 || tr.Recordings[0].TranscribeError == "" || tr.Recordings[0].Samples != int64(len(pcm)) {
		t.Fatalf("while the engine is down: %+v", tr.Recordings)
	}
	rec.Down.Store(false)
	a.Consult.Kick() // what the next poll does
	for {
		tr.Segments, tr.Recordings = nil, nil // a fresh decoding: omitted fields must not keep old values
		json.Unmarshal(a.do("GET", "/api/v1/consultations/"+cons.ID+"/transcript", c.doctor, nil).Body, &tr)
		if tr.Recordings[0].TranscribedSamples == int64(len(pcm)) {
			break
		}
		select {
		case <-events:
		case <-ctx.Done():
			t.Fatalf("never caught up: %+v", tr.Recordings)
		}
	}
	if tr.Recordings[0].TranscribeError != "" || len(tr.Segments) != len(words) {
		t.Fatalf("after catching up: error %q, %d segments for %d words", tr.Recordings[0].TranscribeError, len(tr.Segments), len(words))
	}
	for i, w := range words {
		if tr.Segments[i].Text != transcribetest.Text(w.N) {
			t.Fatalf("segment %d is %q, want %q", i, tr.Segments[i].Text, transcribetest.Text(w.N))
		}
	}
}
