package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/healthhub/healthhub/backend/auth"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/internal/proccpu"
	"github.com/healthhub/healthhub/backend/portal"
	"github.com/healthhub/healthhub/backend/transcribe"
	"github.com/healthhub/healthhub/backend/transcribe/transcribetest"
)

// The consult scenario's targets and bounds.
const (
	// frameSamples is one frame of the audio WebSocket: one second.
	frameSamples = transcribe.SampleRate
	// consultAckTarget and consultCatchUpTarget decide which numbers of
	// concurrent recordings a server keeps up with.
	consultAckTarget     = time.Second
	consultCatchUpTarget = 10 * time.Second
	// consultCatchUpLimit is how long the transcript is waited for after
	// the recordings stop.
	consultCatchUpLimit = time.Minute
	// consultTailFrames bounds the silence streamed after the words of the
	// latency recording while their segments are awaited.
	consultTailFrames = 20
	// maxConsultLevel bounds a level of the ramp.
	maxConsultLevel = 2048
)

func (o Options) consultDefaults() Options {
	if len(o.ConsultLevels) == 0 {
		o.ConsultLevels = []int{1, 16, 64, 128, 256}
	}
	if o.ConsultWindow == 0 {
		o.ConsultWindow = 12 * time.Second
	}
	if o.ConsultWords == 0 {
		o.ConsultWords = 30
	}
	if o.ConsultPace == 0 {
		o.ConsultPace = 1
	}
	return o
}

func (o Options) validateConsult() error {
	for _, n := range o.ConsultLevels {
		if n < 1 || n > maxConsultLevel {
			return fmt.Errorf("consult level %d must be between 1 and %d concurrent recordings", n, maxConsultLevel)
		}
	}
	switch {
	case o.ConsultWindow < time.Second || o.ConsultWindow > 4*time.Hour:
		return fmt.Errorf("consult window %v must be between 1s and 4h", o.ConsultWindow)
	case o.ConsultWords < 1 || o.ConsultWords > 1000:
		return fmt.Errorf("consult words %d must be between 1 and 1000", o.ConsultWords)
	case !(o.ConsultPace >= 1 && o.ConsultPace <= 100):
		return fmt.Errorf("consult pace %v must be between 1 (real time) and 100", o.ConsultPace)
	}
	return nil
}

// WordLatency is how long after its audio was stored each word of a
// recording streamed live came back as a transcript segment.
type WordLatency struct {
	// Words were spoken, Heard came back, Repeated came back more than
	// once; Audio is the recording's length.
	Words, Heard, Repeated int
	Audio                  time.Duration
	P50, P99, Max          time.Duration
	Errors                 int64
	FirstError             string
}

// ConsultLevel is one step of the ramp: Recordings streams at once for
// Frames one-second frames each.
type ConsultLevel struct {
	Recordings int
	Frames     int
	// Acked counts the frames acknowledged; AckP50 … from each frame's
	// sending to its acknowledgement.
	Acked                  int64
	AckP50, AckP99, AckMax time.Duration
	// LagMean and LagMax are the audio sent but not yet transcribed when
	// each recording stopped.
	LagMean, LagMax time.Duration
	// Starved counts the recordings none of whose audio was transcribed
	// when they stopped.
	Starved int
	// CatchUp is the longest time from a recording's stop to its whole
	// audio transcribed; CaughtUp is false when some recording was not
	// within consultCatchUpLimit.
	CatchUp  time.Duration
	CaughtUp bool
	// CPUPerMinute is the process's CPU seconds (user and system) from the
	// first frame until the transcripts caught up, per minute of audio
	// recorded; negative when the platform does not say.
	CPUPerMinute float64
	Errors       int64
	FirstError   string
}

// Keeps reports whether the server kept up at this level: every frame
// acknowledged within a second at the 99th percentile, every transcript
// complete within 10 s of stopping, nothing failed.
func (l ConsultLevel) Keeps() bool {
	return l.Errors == 0 && l.AckP99 < consultAckTarget && l.CaughtUp && l.CatchUp <= consultCatchUpTarget
}

// ConsultResult is the consult scenario on one engine.
type ConsultResult struct {
	Engine string
	// Pace is how many seconds of audio are sent each second: 1 is real
	// time, more is time-compressed.
	Pace   float64
	Words  WordLatency
	Levels []ConsultLevel
	// Largest is the most concurrent recordings kept up with (0: none).
	Largest int
}

// BenchConsult measures consultations recorded live through the audio
// WebSocket of a real server on a fresh database of e, transcribed by the
// openai-compatible engine pointed (through the admin API) at an
// in-process recogniser that speaks /v1/audio/transcriptions.
//
// First one recording of synthetic speech is streamed a frame a second;
// each word's latency runs from the acknowledgement of the frame that holds
// the word's end to the arrival, on the same WebSocket, of the segment
// holding the word. That latency includes by design the live pacing window
// (transcribe.LivePacing: a recording's audio goes to the engine once
// MinLen, 4 s, of it is new, and a window ends at the quietest moment of
// its last third), so it is mostly that window, not the server's work.
//
// Then the ramp: each level streams that many recordings at once for
// o.ConsultWindow, measuring each frame's sending to its acknowledgement,
// the audio not yet transcribed when each stops, how long after stopping
// its transcript is complete (followed on a second WebSocket to the same
// consultation, since the recording's own one closes at stop), and the
// process's CPU time per minute of audio. The ramp ends after the first
// level the server does not keep up with (see ConsultLevel.Keeps).
func BenchConsult(ctx context.Context, e Engine, o Options) (res ConsultResult, err error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return res, err
	}
	res.Engine, res.Pace = e.Name, o.ConsultPace
	top := slices.Max(o.ConsultLevels)
	// Two connections a recording, each end in this process, and some for
	// the database and the data folder.
	if err := ensureOpenFiles(uint64(4*top + 256)); err != nil {
		return res, fmt.Errorf("%s consult: %w", e.Name, err)
	}
	db, err := e.fresh(ctx, o.TempDir)
	if err != nil {
		return res, fmt.Errorf("%s: %w", e.Name, err)
	}
	defer func() {
		if cerr := db.Close(ctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("%s: %w", e.Name, cerr))
		}
	}()
	h, err := startServer(ctx, db, o, 64)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, h.close()) }()
	recogniser := transcribetest.NewServer()
	defer recogniser.Close()
	cl, err := newConsultClinic(ctx, h, recogniser.URL+"/v1")
	if err != nil {
		return res, fmt.Errorf("%s consult: %w", e.Name, err)
	}
	period := time.Duration(float64(time.Second) / o.ConsultPace)

	res.Words, err = cl.wordLatency(ctx, o.ConsultWords, period)
	if err != nil {
		return res, fmt.Errorf("%s consult words: %w", e.Name, err)
	}
	frames := max(1, int(o.ConsultWindow/time.Second))
	for _, n := range o.ConsultLevels {
		lv, err := cl.level(ctx, n, frames, period)
		if err != nil {
			return res, fmt.Errorf("%s consult, %d recordings: %w", e.Name, n, err)
		}
		res.Levels = append(res.Levels, lv)
		if !lv.Keeps() {
			break
		}
		res.Largest = max(res.Largest, n)
	}
	return res, nil
}

// consultClinic is a doctor with the tokens to record over the API, and
// the means to give them a new patient and consultation at will.
type consultClinic struct {
	h           *harness
	wsBase      string
	doctorToken string
	doctorID    string
	slots       bookingTarget
	nextSlot    atomic.Int64
}

// newConsultClinic makes an admin, who points transcription at the
// recogniser through the API, and a doctor with open hours every day.
func newConsultClinic(ctx context.Context, h *harness, recogniserURL string) (*consultClinic, error) {
	sysCtx := domain.WithPrincipal(ctx, domain.System)
	const adminEmail, doctorEmail = "bench.admin@example.org", "bench.doctor@example.org"
	adminPassword, doctorPassword := rand.Text(), rand.Text()
	if _, err := h.sys.Auth.CreateUser(sysCtx, auth.NewAccount{Email: adminEmail, Password: adminPassword, Name: "Bench Admin", Role: domain.RoleAdmin}); err != nil {
		return nil, fmt.Errorf("create admin: %w", err)
	}
	admin, err := h.login(ctx, adminEmail, adminPassword)
	if err != nil {
		return nil, err
	}
	settings := map[string]any{"engine": "openai-compatible", "base_url": recogniserURL, "model": "whisper-small", "external": false}
	if err := h.callJSON(ctx, http.MethodPut, "/api/v1/transcription/settings", admin, settings, nil); err != nil {
		return nil, fmt.Errorf("choose the transcription engine: %w", err)
	}
	d, err := h.sys.Portal.CreateDoctor(sysCtx, portal.NewDoctor{Email: doctorEmail, Password: doctorPassword, Name: "Bench Doctor", Specialization: "General practice"})
	if err != nil {
		return nil, fmt.Errorf("create doctor: %w", err)
	}
	weekly := make([]domain.WeeklyHours, 0, 7)
	for day := range 7 {
		weekly = append(weekly, domain.WeeklyHours{Weekday: day, Start: "00:00", End: "23:30"})
	}
	if _, err := h.sys.Portal.SetAvailability(sysCtx, d.ID, domain.Availability{TimeZone: "UTC", SlotMinutes: 30, HorizonDays: 700, Weekly: weekly}); err != nil {
		return nil, fmt.Errorf("set availability: %w", err)
	}
	token, err := h.login(ctx, doctorEmail, doctorPassword)
	if err != nil {
		return nil, err
	}
	return &consultClinic{h: h, wsBase: "ws" + strings.TrimPrefix(h.base, "http"), doctorToken: token, doctorID: d.ID, slots: newBookingTarget(time.Now())}, nil
}

// consultation books a new patient with the doctor and starts the
// appointment's consultation over the API, consent noted.
func (c *consultClinic) consultation(ctx context.Context) (string, error) {
	sysCtx := domain.WithPrincipal(ctx, domain.System)
	n := c.nextSlot.Add(1) - 1
	name, born := fmt.Sprintf("Bench Patient %d", n), "1980-01-01"
	p, err := c.h.sys.Portal.CreatePatient(sysCtx, portal.NewPatient{PatientInput: portal.PatientInput{Name: &name, DateOfBirth: &born}}, false)
	if err != nil {
		return "", fmt.Errorf("create patient: %w", err)
	}
	start := c.slots.at(n)
	b, err := c.h.sys.Portal.Book(sysCtx, portal.BookRequest{DoctorID: c.doctorID, PatientID: p.ID, Start: start, End: start.Add(30 * time.Minute), Reason: "benchmark"}, "")
	if err != nil {
		return "", fmt.Errorf("book: %w", err)
	}
	var cons domain.Consultation
	in := map[string]any{"appointment_id": b.Appointment.ID, "consent": true, "consent_how": "verbal"}
	if err := c.h.callJSON(ctx, http.MethodPost, "/api/v1/consultations", c.doctorToken, in, &cons); err != nil {
		return "", fmt.Errorf("start consultation: %w", err)
	}
	return cons.ID, nil
}

// callJSON sends in as JSON and decodes a 2xx answer into out (nil:
// discarded).
func (h *harness) callJSON(ctx context.Context, method, path, token string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", method, path, statusError(resp))
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// speech is synthetic speech of n words, whole seconds long, cut into
// one-second frames.
func speech(n int) ([][]int16, []transcribetest.Word) {
	pcm, words := transcribetest.Recording(n)
	if r := len(pcm) % frameSamples; r != 0 {
		pcm = append(pcm, make([]int16, frameSamples-r)...)
	}
	fs := make([][]int16, 0, len(pcm)/frameSamples)
	for i := 0; i < len(pcm); i += frameSamples {
		fs = append(fs, pcm[i:i+frameSamples])
	}
	return fs, words
}

// wordLatency streams one recording of words words, then silence until
// every word came back (or consultTailFrames seconds of it).
func (c *consultClinic) wordLatency(ctx context.Context, words int, period time.Duration) (WordLatency, error) {
	fs, ws := speech(words)
	res := WordLatency{Words: len(ws), Audio: time.Duration(len(fs)) * time.Second}
	id, err := c.consultation(ctx)
	if err != nil {
		return res, err
	}
	st := newConsultStream(id, len(fs)+consultTailFrames)
	st.words, st.heardAt = ws, make([]time.Time, len(ws))
	defer st.close()
	if err := st.connect(ctx, c.wsBase, c.doctorToken, false); err != nil {
		return res, err
	}
	silence := make([]int16, frameSamples)
	st.run(ctx, time.Now(), period, func(i int) []int16 {
		switch {
		case i < len(fs):
			return fs[i]
		case i < len(fs)+consultTailFrames && st.heard.Load() < int64(len(ws)):
			return silence
		}
		return nil
	})
	res.Errors, res.FirstError = st.fails.result()
	st.mu.Lock()
	defer st.mu.Unlock()
	res.Repeated = st.repeated
	var lat []time.Duration
	for i, w := range ws {
		if st.heardAt[i].IsZero() {
			continue
		}
		res.Heard++
		end := int64(math.Round(w.End.Seconds() * transcribe.SampleRate))
		acked := st.acked[(end-1)/frameSamples].Load()
		if acked == 0 {
			continue // counted as a frame never acknowledged
		}
		lat = append(lat, st.heardAt[i].Sub(time.Unix(0, acked)))
	}
	slices.Sort(lat)
	res.P50, res.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	if len(lat) > 0 {
		res.Max = lat[len(lat)-1]
	}
	return res, nil
}

// level streams n recordings at once, frames frames each, their frames
// spread evenly over each period, and measures them.
func (c *consultClinic) level(ctx context.Context, n, frames int, period time.Duration) (ConsultLevel, error) {
	lv := ConsultLevel{Recordings: n, Frames: frames, CPUPerMinute: -1}
	streams := make([]*consultStream, n)
	var setupErr error
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, 8) {
		wg.Go(func() {
			for i := range next {
				st := newConsultStream("", frames)
				id, err := c.consultation(ctx)
				if err == nil {
					st.consultation = id
					err = st.connect(ctx, c.wsBase, c.doctorToken, true)
				}
				mu.Lock()
				streams[i] = st
				if err != nil && setupErr == nil {
					setupErr = err
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	defer func() {
		for _, st := range streams {
			st.close()
		}
	}()
	if err := ctx.Err(); err != nil {
		return lv, err
	}
	if setupErr != nil {
		// As many recordings as asked for could not even start: the level
		// is not kept up with.
		lv.Errors, lv.FirstError = 1, setupErr.Error()
		return lv, nil
	}

	talk, _ := speech(transcribetest.MaxWords)
	cpu0, cpuOK := proccpu.Of(0)
	start := time.Now().Add(100 * time.Millisecond)
	for k, st := range streams {
		wg.Go(func() {
			// Each microphone starts at its own moment within a period, and
			// says something else at any moment.
			at := start.Add(time.Duration(k) * period / time.Duration(n))
			st.run(ctx, at, period, func(i int) []int16 {
				if i >= frames {
					return nil
				}
				return talk[(i+k)%len(talk)]
			})
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return lv, err
	}
	if cpu1, ok := proccpu.Of(0); ok && cpuOK {
		minutes := float64(n*frames) / 60
		lv.CPUPerMinute = (cpu1 - cpu0).Seconds() / minutes
	}

	var acks []time.Duration
	var lagSum time.Duration
	lv.CaughtUp = true
	for _, st := range streams {
		for i := range st.sentFrames {
			s, a := st.sent[i].Load(), st.acked[i].Load()
			if a != 0 {
				acks = append(acks, time.Duration(a-s))
			}
		}
		lagSum += st.lagAtStop
		if st.sentFrames > 0 && st.transcribedAtStop == 0 {
			lv.Starved++
		}
		lv.LagMax = max(lv.LagMax, st.lagAtStop)
		if st.catchUp < 0 {
			lv.CaughtUp = false
		}
		lv.CatchUp = max(lv.CatchUp, st.catchUp)
		errs, first := st.fails.result()
		lv.Errors += errs
		if lv.FirstError == "" {
			lv.FirstError = first
		}
	}
	slices.Sort(acks)
	lv.Acked = int64(len(acks))
	lv.AckP50, lv.AckP99 = percentile(acks, 0.50), percentile(acks, 0.99)
	if len(acks) > 0 {
		lv.AckMax = acks[len(acks)-1]
	}
	lv.LagMean = lagSum / time.Duration(n)
	return lv, nil
}

// audioMessage is a message of the audio WebSocket from the server.
type audioMessage struct {
	Type               string                    `json:"type"`
	RecordingID        string                    `json:"recording_id"`
	Seq                *int64                    `json:"seq"`
	Samples            *int64                    `json:"samples"`
	Segment            *domain.TranscriptSegment `json:"segment"`
	TranscribedSamples int64                     `json:"transcribed_samples"`
	Code               string                    `json:"code"`
	Message            string                    `json:"message"`
	Error              string                    `json:"error"`
}

// errorTally counts a stream's failures and keeps the first.
type errorTally struct {
	mu    sync.Mutex
	n     int64
	first string
}

func (t *errorTally) add(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	if t.first == "" {
		t.first = fmt.Sprintf(format, args...)
	}
}

func (t *errorTally) result() (int64, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n, t.first
}

// consultStream is one recording streamed over the audio WebSocket, as the
// page does: a frame each period, not waiting for acknowledgements, and
// with follow set a second connection to the consultation that hears its
// transcript's progress after the recording's own connection has closed.
type consultStream struct {
	consultation  string
	audio, follow *websocket.Conn
	ready         chan string   // the recording's id
	stopped       chan struct{} // closed at "stopped" or when the connection ends
	stopOnce      sync.Once
	readers       sync.WaitGroup
	closing       atomic.Bool

	// sent and acked hold when each frame was written and acknowledged
	// (Unix nanoseconds, 0 for not yet).
	sent, acked []atomic.Int64
	sentFrames  int

	// transcribed is the most audio known transcribed; final the audio
	// sent in all, once the stop is sent; caughtUp is closed when
	// transcribed reaches final.
	transcribed, final atomic.Int64
	caughtUp           chan struct{}
	caughtOnce         sync.Once
	caughtAt           atomic.Int64

	lagAtStop         time.Duration
	transcribedAtStop int64
	catchUp           time.Duration // -1: not within consultCatchUpLimit

	// words, when set, are matched with the segments that come back.
	mu       sync.Mutex
	words    []transcribetest.Word
	heardAt  []time.Time
	repeated int
	heard    atomic.Int64

	fails errorTally
}

func newConsultStream(consultation string, frames int) *consultStream {
	return &consultStream{consultation: consultation, ready: make(chan string, 1), stopped: make(chan struct{}), caughtUp: make(chan struct{}),
		sent: make([]atomic.Int64, frames), acked: make([]atomic.Int64, frames)}
}

// connect opens the audio connection (and the following one when follow)
// and starts a new recording.
func (st *consultStream) connect(ctx context.Context, wsBase, token string, follow bool) error {
	url := wsBase + "/api/v1/consultations/" + st.consultation + "/audio?access_token=" + token
	dial := func() (*websocket.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		conn, _, err := websocket.Dial(dctx, url, nil)
		if err != nil {
			return nil, fmt.Errorf("connect to the audio WebSocket: %w", err)
		}
		conn.SetReadLimit(1 << 20)
		return conn, nil
	}
	var err error
	if follow {
		if st.follow, err = dial(); err != nil {
			return err
		}
		st.readers.Go(func() { st.read(ctx, st.follow, false) })
	}
	if st.audio, err = dial(); err != nil {
		return err
	}
	st.readers.Go(func() { st.read(ctx, st.audio, true) })
	if err := st.write(ctx, websocket.MessageText, []byte(`{"type":"start","sample_rate":16000}`)); err != nil {
		return err
	}
	select {
	case <-st.ready:
		return nil
	case <-st.stopped:
		_, first := st.fails.result()
		return fmt.Errorf("the recording did not start: %s", first)
	case <-time.After(30 * time.Second):
		return errors.New("the recording did not start within 30 s")
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (st *consultStream) write(ctx context.Context, typ websocket.MessageType, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return st.audio.Write(wctx, typ, b)
}

// read handles one connection's messages until it closes. The recording's
// own connection (own) hears acknowledgements and the end of the
// recording; both hear segments and progress.
func (st *consultStream) read(ctx context.Context, conn *websocket.Conn, own bool) {
	stopped := func() { st.stopOnce.Do(func() { close(st.stopped) }) }
	if own {
		defer stopped()
	}
	for {
		_, b, err := conn.Read(ctx)
		now := time.Now()
		if err != nil {
			ended := own && websocket.CloseStatus(err) == websocket.StatusNormalClosure
			if !st.closing.Load() && ctx.Err() == nil && !ended {
				st.fails.add("audio WebSocket: %v", err)
			}
			return
		}
		var m audioMessage
		if err := json.Unmarshal(b, &m); err != nil {
			st.fails.add("undecodable message %.100q: %v", b, err)
			continue
		}
		switch m.Type {
		case "ready":
			if own {
				st.ready <- m.RecordingID
			}
		case "ack":
			if own && m.Seq != nil && *m.Seq >= 0 && *m.Seq < int64(len(st.acked)) {
				st.acked[*m.Seq].CompareAndSwap(0, now.UnixNano())
			}
		case "segment":
			if own && m.Segment != nil {
				st.heardSegment(m.Segment, now)
			}
		case "transcribing":
			if m.Error != "" {
				st.fails.add("transcription: %s", m.Error)
				continue
			}
			st.progress(m.TranscribedSamples, now)
		case "stopped":
			if own {
				stopped() // the server closes the connection next
			}
		case "error":
			st.fails.add("%s: %s", m.Code, m.Message)
		}
	}
}

// heardSegment notes the first segment that holds each word.
func (st *consultStream) heardSegment(s *domain.TranscriptSegment, at time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	mid := time.Duration(s.StartMS+s.EndMS) * time.Millisecond / 2
	i, found := slices.BinarySearchFunc(st.words, mid, func(w transcribetest.Word, t time.Duration) int {
		switch {
		case w.End < t:
			return -1
		case w.Start > t:
			return 1
		}
		return 0
	})
	if !found {
		return
	}
	if !st.heardAt[i].IsZero() {
		st.repeated++
		return
	}
	st.heardAt[i] = at
	st.heard.Add(1)
}

// progress notes audio transcribed up to samples.
func (st *consultStream) progress(samples int64, at time.Time) {
	for {
		old := st.transcribed.Load()
		if samples <= old || st.transcribed.CompareAndSwap(old, samples) {
			break
		}
	}
	if f := st.final.Load(); f > 0 && st.transcribed.Load() >= f {
		st.caughtOnce.Do(func() {
			st.caughtAt.Store(at.UnixNano())
			close(st.caughtUp)
		})
	}
}

// run sends frame i of next at start + i·period until next returns nil,
// then stops the recording and, when following, waits for its transcript
// to be complete.
func (st *consultStream) run(ctx context.Context, start time.Time, period time.Duration, next func(i int) []int16) {
	buf := make([]byte, 8+2*frameSamples)
	timer := time.NewTimer(time.Until(start))
	defer timer.Stop()
	var samples int64
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-st.stopped:
			st.fails.add("the audio connection closed after %d frames", i)
			return
		case <-timer.C:
		}
		pcm := next(i)
		if pcm == nil || i >= len(st.sent) {
			break
		}
		b := buf[:8+2*len(pcm)]
		binary.BigEndian.PutUint64(b, uint64(i))
		for j, v := range pcm {
			binary.LittleEndian.PutUint16(b[8+2*j:], uint16(v))
		}
		st.sent[i].Store(time.Now().UnixNano())
		if err := st.write(ctx, websocket.MessageBinary, b); err != nil {
			st.fails.add("send frame %d: %v", i, err)
			return
		}
		st.sentFrames, samples = i+1, samples+int64(len(pcm))
		timer.Reset(time.Until(start.Add(time.Duration(i+1) * period)))
	}
	st.transcribedAtStop = st.transcribed.Load()
	st.lagAtStop = transcribe.Duration(int(samples-st.transcribedAtStop), transcribe.SampleRate)
	st.final.Store(samples)
	st.progress(0, time.Now())
	stopAt := time.Now()
	if err := st.write(ctx, websocket.MessageText, []byte(`{"type":"stop"}`)); err != nil {
		st.fails.add("send stop: %v", err)
		return
	}
	limit := time.NewTimer(consultCatchUpLimit)
	defer limit.Stop()
	select {
	case <-st.stopped:
	case <-limit.C:
		st.fails.add("no answer to stop within %s", consultCatchUpLimit)
	case <-ctx.Done():
		return
	}
	for i := range st.sentFrames {
		if st.acked[i].Load() == 0 {
			st.fails.add("frame %d was never acknowledged", i)
		}
	}
	if st.follow == nil {
		return
	}
	select {
	case <-st.caughtUp:
		st.catchUp = time.Unix(0, st.caughtAt.Load()).Sub(stopAt)
	case <-limit.C:
		st.catchUp = -1
	case <-ctx.Done():
	}
}

// close ends both connections and waits for their readers.
func (st *consultStream) close() {
	if st == nil {
		return
	}
	st.closing.Store(true)
	for _, c := range []*websocket.Conn{st.audio, st.follow} {
		if c != nil {
			c.CloseNow()
		}
	}
	st.readers.Wait()
}

// writeConsult reports the consult scenario.
func writeConsult(w io.Writer, r ConsultResult) {
	pace := "at real time (one 1 s frame a second)"
	if r.Pace != 1 {
		pace = fmt.Sprintf("TIME-COMPRESSED %.3gx (one 1 s frame every %s)", r.Pace, ms(time.Duration(float64(time.Second)/r.Pace)))
	}
	wl := r.Words
	writeNote(w, r.Engine, "consult words", "%d words in %s of speech streamed %s; segment on the audio WebSocket − acknowledgement of the frame holding the word's end:",
		wl.Words, wl.Audio, pace)
	writeNote(w, "", "", "p50 %s, p99 %s, max %s over %d words heard (%d repeated, %d errors); includes the 4 s live pacing window by design",
		secs(wl.P50), secs(wl.P99), secs(wl.Max), wl.Heard, wl.Repeated, wl.Errors)
	if wl.FirstError != "" {
		writeNote(w, "", "", "first error: %s", wl.FirstError)
	}
	writeNote(w, r.Engine, "consult ramp", "%10s %7s %9s %9s %9s %19s %7s %12s %9s %6s", "recordings", "acked", "ack p50", "ack p99", "ack max", "lag at stop avg/max", "starved", "caught up in", "CPU s/min", "errors")
	for _, l := range r.Levels {
		caught := secs(l.CatchUp)
		if !l.CaughtUp {
			caught = ">" + secs(consultCatchUpLimit)
		}
		cpu := "n/a"
		if l.CPUPerMinute >= 0 {
			cpu = fmt.Sprintf("%.2f", l.CPUPerMinute)
		}
		writeNote(w, r.Engine, "consult ramp", "%10d %7d %9s %9s %9s %19s %7d %12s %9s %6d", l.Recordings, l.Acked, ms(l.AckP50), ms(l.AckP99), ms(l.AckMax),
			secs(l.LagMean)+" / "+secs(l.LagMax), l.Starved, caught, cpu, l.Errors)
		if l.FirstError != "" {
			writeNote(w, "", "", "first error: %s", l.FirstError)
		}
	}
	writeNote(w, "", "", "each recording streams %s %s; lag: audio sent but not transcribed at stop; starved: recordings with none transcribed at stop;",
		secs(time.Duration(levelFrames(r))*time.Second), pace)
	writeNote(w, "", "", "caught up: stop → whole recording transcribed (slowest recording); CPU: this whole process (server, clients, fake recogniser;")
	writeNote(w, "", "", "not PostgreSQL's processes) from the first frame to caught up, in seconds per minute of audio recorded")
	limit := "none"
	if r.Largest > 0 {
		limit = fmt.Sprint(r.Largest)
	}
	tail := ""
	if n := len(r.Levels); n > 0 && !r.Levels[n-1].Keeps() {
		tail = fmt.Sprintf("; %d did not", r.Levels[n-1].Recordings)
	}
	writeNote(w, r.Engine, "consult limit", "largest number of concurrent recordings with ack p99 < 1 s, transcripts caught up within 10 s of stopping and no errors: %s%s (on this machine: %d CPUs, shared)",
		limit, tail, runtime.NumCPU())
}

// levelFrames is the frames each recording of the ramp sent.
func levelFrames(r ConsultResult) int {
	if len(r.Levels) == 0 {
		return 0
	}
	return r.Levels[0].Frames
}

// secs formats a longer time in seconds.
func secs(d time.Duration) string {
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// runConsult runs the consult scenario on e and reports it.
func runConsult(ctx context.Context, w io.Writer, e Engine, o Options) error {
	if !o.want("consult") {
		return nil
	}
	r, err := BenchConsult(ctx, e, o)
	if r.Engine != "" {
		writeConsult(w, r)
	}
	return err
}
