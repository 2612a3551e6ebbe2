package assistant

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/knowledge"
	"github.com/healthhub/healthhub/backend/llm"
	"github.com/healthhub/healthhub/backend/policy"
)

// Event is one thing listeners are told while an answer is written. Each
// piece of text is sent once, as a delta.
type Event struct {
	Type           string            `json:"type"` // start, notice, citations, delta, done, error
	ConversationID string            `json:"conversation_id,omitempty"`
	MessageID      string            `json:"message_id,omitempty"`
	UserMessageID  string            `json:"user_message_id,omitempty"`
	Text           string            `json:"text,omitempty"`
	Citations      []domain.Citation `json:"citations,omitempty"`
	Status         string            `json:"status,omitempty"` // done: complete, stopped or failed
	Code           string            `json:"code,omitempty"`
	Message        string            `json:"message,omitempty"`
}

// SendInput is a user's message; Provider and Model override the
// conversation's choice for this answer.
type SendInput struct {
	Content  string `json:"content"`
	Provider string `json:"provider,omitempty"`
	Model    string `json:"model,omitempty"`
}

// Stream is a listener's view of an answer being written. Events ends
// (is closed) after the done or error event, or when the listener falls
// too far behind; the answer is written on regardless and can be fetched.
type Stream struct {
	ConversationID, UserMessageID, MessageID string
	Events                                   <-chan Event
	leave                                    func()
}

// Leave stops listening; the answer is still written.
func (s *Stream) Leave() { s.leave() }

// generation is an answer being written, with its listeners.
type generation struct {
	id, conversationID, userID string
	cancel                     context.CancelCauseFunc

	mu   sync.Mutex
	subs map[chan Event]struct{}
	done bool
	text strings.Builder // the answer so far, for listeners that come late
}

// listenerBuffer is how many events may wait for one listener, and
// maxListeners how many may follow one answer (tabs, reconnections).
const (
	listenerBuffer = 256
	maxListeners   = 8
)

var errStopped = errors.New("stopped by the user")

func (g *generation) stop(cause error) { g.cancel(cause) }

// subscribe adds a listener; a late one (catchUp) first gets a "snapshot"
// event with the text written so far, so it misses nothing.
func (g *generation) subscribe(catchUp bool) (chan Event, func(), error) {
	ch := make(chan Event, listenerBuffer)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		close(ch)
		return ch, func() {}, nil
	}
	if len(g.subs) >= maxListeners {
		return nil, nil, domain.Errorf(domain.ECONFLICT, "This answer already has %d listeners; close another window first.", maxListeners)
	}
	if catchUp {
		ch <- Event{Type: "snapshot", ConversationID: g.conversationID, MessageID: g.id, Text: g.text.String()}
	}
	g.subs[ch] = struct{}{}
	return ch, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if _, ok := g.subs[ch]; ok {
			delete(g.subs, ch)
			close(ch)
		}
	}, nil
}

func (g *generation) publish(ev Event) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ev.Type == "delta" {
		g.text.WriteString(ev.Text)
	}
	for ch := range g.subs {
		select {
		case ch <- ev:
		default: // too far behind: it fetches the message instead
			delete(g.subs, ch)
			close(ch)
		}
	}
	if ev.Type == "done" || ev.Type == "error" {
		g.done = true
		for ch := range g.subs {
			close(ch)
		}
		clear(g.subs)
	}
}

// Send adds the caller's message to a conversation and starts the answer.
// The answer is written to the end even if the caller goes away, unless
// stopped with Stop.
func (s *Service) Send(ctx context.Context, conversationID string, in SendInput) (*Stream, error) {
	p := domain.PrincipalFrom(ctx)
	c, err := s.own(ctx, conversationID, policy.Update)
	if err != nil {
		return nil, err
	}
	content, err := validateMessage(in.Content)
	if err != nil {
		return nil, err
	}
	provider, model := c.Provider, c.Model
	if in.Provider != "" || in.Model != "" {
		provider, model = in.Provider, in.Model
	}
	ch, err := s.choose(ctx, p, provider, model)
	if err != nil {
		return nil, err
	}
	if err := s.checkLimits(ctx, p); err != nil {
		return nil, err
	}
	// One answer at a time per conversation: the conversation is reserved
	// here and released when its answer ends (or was never started).
	s.mu.Lock()
	if s.ctx.Err() != nil { // closing: Close waits only for answers begun before
		s.mu.Unlock()
		return nil, domain.Errorf(domain.EUNAVAILABLE, "The server is shutting down; send the message again in a moment.")
	}
	for _, g := range s.gens {
		if g.conversationID == c.ID {
			s.mu.Unlock()
			return nil, domain.Errorf(domain.ECONFLICT, "An answer is still being written in this conversation; wait for it or stop it first.")
		}
	}
	s.wg.Add(1)
	// The answer outlives the request but is still its doing: it keeps the
	// caller and the request's id, address and user agent for the audit,
	// not the request's cancellation.
	gctx, cancel := context.WithCancelCause(domain.WithRequestMeta(domain.WithPrincipal(s.ctx, p), domain.RequestMetaFrom(ctx)))
	g := &generation{conversationID: c.ID, userID: p.UserID, cancel: cancel, subs: map[chan Event]struct{}{}}
	reservation := "pending:" + c.ID
	s.gens[reservation] = g
	s.mu.Unlock()
	started := false
	defer func() {
		if !started {
			cancel(nil)
			s.mu.Lock()
			delete(s.gens, reservation)
			s.mu.Unlock()
			s.wg.Done()
		}
	}()
	// Read after the reservation: the previous answer is finished and stored.
	history, err := s.store.Messages(ctx, c.ID)
	if err != nil {
		return nil, err
	}

	now := s.now()
	user := &domain.Message{ConversationID: c.ID, Role: domain.RoleUser, Content: content, Status: domain.MessageComplete, CreatedAt: now, UpdatedAt: now}
	if err := s.store.AddMessage(ctx, user); err != nil {
		return nil, err
	}
	answer := &domain.Message{ConversationID: c.ID, Role: domain.RoleAssistant, Status: domain.MessageStreaming, Provider: ch.info.Name, Model: ch.model.Name,
		CreatedAt: now.Add(time.Microsecond), UpdatedAt: now.Add(time.Microsecond)}
	if err := s.store.AddMessage(ctx, answer); err != nil {
		return nil, err
	}
	if c.Title == "" {
		if err := s.store.RenameConversation(ctx, c.ID, autoTitle(content), now); err != nil {
			s.logger.Warn("assistant: automatic title", "conversation_id", c.ID, "err", err)
		}
	}

	s.mu.Lock()
	g.id = answer.ID
	delete(s.gens, reservation)
	s.gens[g.id] = g
	s.mu.Unlock()
	sub, leave, _ := g.subscribe(false) // the first listener: no limit reached
	started = true

	turn := turn{content: content, history: priorTurns(history), choice: ch, patientID: c.PatientID, conversationID: c.ID}
	go s.write(gctx, cancel, g, turn, answer, user.ID)
	return &Stream{ConversationID: c.ID, UserMessageID: user.ID, MessageID: answer.ID, Events: sub, leave: leave}, nil
}

// write writes one answer to its end, in a goroutine of its own counted in
// s.wg, and releases its generation.
func (s *Service) write(gctx context.Context, cancel context.CancelCauseFunc, g *generation, t turn, answer *domain.Message, userMessageID string) {
	defer s.wg.Done()
	defer cancel(nil)
	release := sync.OnceFunc(func() {
		s.mu.Lock()
		delete(s.gens, g.id)
		s.mu.Unlock()
	})
	defer release()
	if s.opts.Heartbeat > 0 {
		// Other processes take over an answer whose writer stays silent
		// (package leader); say this one is alive while it is written.
		hctx, stop := context.WithCancel(context.WithoutCancel(gctx))
		defer stop()
		go s.heartbeat(hctx, answer.ID)
	}
	publish := func(ev Event) {
		if ev.Type == "done" || ev.Type == "error" {
			release() // the next message may be sent as soon as this is known
		}
		g.publish(ev)
	}
	publish(Event{Type: "start", ConversationID: t.conversationID, MessageID: answer.ID, UserMessageID: userMessageID})
	save := func(m *domain.Message) {
		sctx, done := context.WithTimeout(context.WithoutCancel(gctx), 10*time.Second)
		defer done()
		if err := s.store.UpdateMessage(sctx, m); err != nil {
			s.logger.Error("assistant: save answer", "message_id", m.ID, "err", err)
		}
	}
	s.answer(gctx, t, answer, publish, save)
}

// Listen follows an answer still being written (a client that reconnects);
// when it is finished, the events channel is closed at once and the
// message is fetched instead.
func (s *Service) Listen(ctx context.Context, messageID string) (*Stream, error) {
	p := domain.PrincipalFrom(ctx)
	s.mu.Lock()
	g, ok := s.gens[messageID]
	s.mu.Unlock()
	if ok && g.userID != p.UserID {
		// Someone else's answer: refused, recorded, and not revealed.
		return nil, s.access.Hidden(ctx, policy.Read, policy.Resource{Type: policy.Conversation, ID: g.conversationID, OwnerID: g.userID},
			"No such answer.")
	}
	if !ok || g.id != messageID {
		ch := make(chan Event)
		close(ch)
		return &Stream{MessageID: messageID, Events: ch, leave: func() {}}, nil
	}
	sub, leave, err := g.subscribe(true)
	if err != nil {
		return nil, err
	}
	return &Stream{ConversationID: g.conversationID, MessageID: messageID, Events: sub, leave: leave}, nil
}

// Stop stops an answer being written; the part written is kept and marked
// stopped. Stopping a finished answer does nothing.
func (s *Service) Stop(ctx context.Context, conversationID string) error {
	c, err := s.own(ctx, conversationID, policy.Update)
	if err != nil {
		return err
	}
	s.stopConversation(c.ID)
	return nil
}

func (s *Service) stopConversation(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.gens {
		if g.conversationID == id {
			g.stop(errStopped)
		}
	}
}

// priorTurns are the earlier messages worth sending again: questions and
// the answers that were (at least partly) written.
func priorTurns(msgs []*domain.Message) []llm.Message {
	var out []llm.Message
	for _, m := range msgs {
		if m.Content == "" || (m.Role == domain.RoleAssistant && m.Status == domain.MessageFailed) {
			continue
		}
		out = append(out, llm.Message{Role: m.Role, Content: m.Content})
	}
	return out
}

// turn is one question to answer.
type turn struct {
	content        string
	history        []llm.Message
	system         string // extra instructions from an API client
	choice         *choice
	patientID      string
	conversationID string
	maxTokens      int
}

// answer writes the answer to one turn into msg, telling publish as it
// goes and calling save now and then and at the end; it records usage and
// the audit event. It returns when the answer is finished, failed or
// stopped (ctx's cause says which).
func (s *Service) answer(ctx context.Context, t turn, msg *domain.Message, publish func(Event), save func(*domain.Message)) {
	if IsEmergency(t.content) {
		msg.Notice = EmergencyNotice
		publish(Event{Type: "notice", MessageID: msg.ID, Text: EmergencyNotice})
	}

	offline := t.choice.info.Kind == domain.ProviderOffline
	var results []knowledge.Result
	if s.know != nil && s.opts.Passages > 0 {
		limit, q := s.opts.Passages, s.searchText(ctx, t.content)
		if msg.Notice != "" {
			// The documents' words for the emergency described: "her face
			// looks lopsided" finds what they say of a stroke.
			if words := strings.Join(append([]string{"emergency"}, emergencyDocWords(t.content)...), " "); len(q)+len(words) < maxSearchText {
				q += " " + words
			}
		}
		if offline {
			limit = max(limit, offlineSearchDepth)
			if expanded := llm.OfflineSearchText(q); len(expanded) <= maxSearchText {
				q = expanded
			}
		}
		var err error
		results, err = s.know.Search(ctx, q, limit)
		if err != nil && ctx.Err() == nil {
			s.logger.Warn("assistant: knowledge search failed; answering without passages", "err", err)
		}
	}
	if offline {
		results = offlineGrounding(t.content, results, msg.Notice != "")
	}
	msg.Citations = citations(results)
	if len(msg.Citations) > 0 {
		publish(Event{Type: "citations", MessageID: msg.ID, Citations: msg.Citations})
	}

	req, redacted, restorer, err := s.prompt(ctx, t, msg.Citations)
	if err != nil {
		s.finish(ctx, t, msg, llm.Result{}, err, publish, save)
		return
	}
	msg.Redacted = redacted
	if msg.Notice != "" {
		req.QuoteBy = emergencyQuoteBy(t.content)
	}
	var b strings.Builder
	lastSave := time.Now()
	res, err := t.choice.stream.Stream(ctx, req, func(text string) error {
		if restorer != nil {
			text = restorer.Write(text)
		}
		if text == "" {
			return nil
		}
		b.WriteString(text)
		publish(Event{Type: "delta", MessageID: msg.ID, Text: text})
		if time.Since(lastSave) >= s.opts.SaveEvery {
			lastSave = time.Now()
			msg.Content, msg.UpdatedAt = b.String(), s.now()
			save(msg)
		}
		return nil
	})
	if restorer != nil {
		if tail := restorer.Flush(); tail != "" {
			b.WriteString(tail)
			publish(Event{Type: "delta", MessageID: msg.ID, Text: tail})
		}
	}
	msg.Content = b.String()
	if res.TokensIn == 0 {
		res.TokensIn = llm.EstimateTokens(req.System) + llm.EstimateTokens(t.content)
		for _, m := range req.Messages {
			res.TokensIn += llm.EstimateTokens(m.Content)
		}
	}
	if res.TokensOut == 0 {
		res.TokensOut = llm.EstimateTokens(msg.Content)
	}
	s.finish(ctx, t, msg, res, err, publish, save)
}

// finish stores the answer's end, the usage and the audit event, and tells
// the listeners.
func (s *Service) finish(ctx context.Context, t turn, msg *domain.Message, res llm.Result, err error, publish func(Event), save func(*domain.Message)) {
	p := domain.PrincipalFrom(ctx)
	cause := context.Cause(ctx)
	msg.TokensIn, msg.TokensOut, msg.UpdatedAt = res.TokensIn, res.TokensOut, s.now()
	ev := Event{Type: "done", MessageID: msg.ID}
	switch {
	case err == nil:
		msg.Status = domain.MessageComplete
	case errors.Is(cause, errStopped):
		msg.Status = domain.MessageStopped
	case errors.Is(cause, errShutdown) && s.opts.Heartbeat > 0:
		// Replicas: the answer stays being written, unmarked from now on,
		// and the leader has another process write it (Lead).
		ev = Event{Type: "error", MessageID: msg.ID, Code: domain.EUNAVAILABLE,
			Message: "This server is restarting; another one finishes the answer, which appears in the conversation in a minute."}
	case errors.Is(cause, errShutdown):
		msg.Status, msg.Error = domain.MessageStopped, "The server was shut down while this answer was written."
	default:
		msg.Status = domain.MessageFailed
		var pe *llm.Error
		var de *domain.Error
		errors.As(err, &de)
		switch {
		case errors.As(err, &pe):
			msg.Error = pe.Message + ". Please try again in a moment."
		case de != nil:
			msg.Error = de.Message
		default:
			msg.Error = "The answer could not be written. Please try again in a moment."
		}
		s.logger.Warn("assistant: answer failed", "message_id", msg.ID, "provider", t.choice.info.Name, "model", t.choice.model.Name, "err", err)
		code := domain.EUNAVAILABLE
		if de != nil {
			code = de.Code
		}
		ev = Event{Type: "error", MessageID: msg.ID, Code: code, Message: msg.Error}
	}
	ev.Status = msg.Status
	save(msg)
	bg, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done()
	if err := s.addUsage(bg, domain.Usage{UserID: p.UserID, Day: s.now().UTC().Format(time.DateOnly), Provider: msg.Provider, Messages: 1, TokensIn: msg.TokensIn, TokensOut: msg.TokensOut}); err != nil {
		s.logger.Error("assistant: record usage", "err", err)
	}
	detail := fmt.Sprintf("conversation=%s provider=%s kind=%s model=%s external=%t redacted=%t identifiers=%d tokens_in=%d tokens_out=%d status=%s passages=%d emergency=%t",
		t.conversationID, t.choice.info.Name, t.choice.info.Kind, t.choice.model.Name, t.choice.info.External, msg.Redacted > 0, msg.Redacted,
		msg.TokensIn, msg.TokensOut, msg.Status, len(msg.Citations), msg.Notice != "")
	outcome := domain.OutcomeSuccess
	if msg.Status == domain.MessageFailed {
		outcome = domain.OutcomeFailure
	}
	if err := s.record(bg, audit.Event{Action: domain.ActionCreate, ResourceType: "ai_interaction", ResourceID: msg.ID, PatientID: t.patientID, Outcome: outcome, Detail: detail}); err != nil {
		s.logger.Error("assistant: audit the interaction", "message_id", msg.ID, "err", err)
	}
	publish(ev)
}

// citations numbers the passages an answer is grounded on.
func citations(results []knowledge.Result) []domain.Citation {
	out := make([]domain.Citation, 0, len(results))
	for i, r := range results {
		out = append(out, domain.Citation{N: i + 1, ChunkID: r.ChunkID, DocumentID: r.DocumentID, Title: r.Title, Heading: r.Heading, Source: r.Source, Text: r.Text})
	}
	return out
}

// maxSearchText is the longest text the knowledge search takes.
const maxSearchText = 2000

// searchText is the question as the knowledge search gets it: with every
// identifier left out (the search may send it to an embedding provider, and
// names and numbers do not find clinic documents anyway), cut to the
// search's limit at a word.
func (s *Service) searchText(ctx context.Context, q string) string {
	if d, err := s.detector(ctx); err == nil {
		var b strings.Builder
		last := 0
		for _, sp := range d.Find(q) {
			b.WriteString(q[last:sp.Start])
			b.WriteByte(' ')
			last = sp.End
		}
		b.WriteString(q[last:])
		q = b.String()
	} else {
		s.logger.Warn("assistant: patient names unavailable for the search text", "err", err)
	}
	if len(q) > maxSearchText {
		cut := strings.LastIndexByte(q[:maxSearchText], ' ')
		if cut <= 0 {
			cut = maxSearchText
			for cut > 0 && !utf8.RuneStart(q[cut]) {
				cut--
			}
		}
		q = q[:cut]
	}
	return q
}
