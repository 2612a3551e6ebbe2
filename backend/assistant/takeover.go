package assistant

import (
	"context"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

// takeOverAfter is how many heartbeats an answer's writer may miss before
// another process takes the answer over.
const takeOverAfter = 6

// heartbeat marks an answer as being written, every Heartbeat, until ctx
// ends.
func (s *Service) heartbeat(ctx context.Context, id string) {
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.store.TouchMessage(ctx, id, s.now()); err != nil && ctx.Err() == nil {
			s.logger.Warn("assistant: mark an answer as being written", "message_id", id, "err", err)
		}
	}
}

// Lead takes over, until ctx ends, the answers that server processes
// stopped writing (killed, or cut off from the database): each is claimed
// once, by the one process that leads, and written again from the start for
// the person who asked, who finds it finished. Only with Options.Heartbeat.
func (s *Service) Lead(ctx context.Context) {
	if s.opts.Heartbeat <= 0 {
		return
	}
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		stale, err := s.store.ClaimStaleAnswers(ctx, now.Add(-takeOverAfter*s.opts.Heartbeat), now)
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Warn("assistant: look for answers left unfinished", "err", err)
			}
			continue
		}
		for _, m := range stale {
			s.logger.Info("assistant: taking over an answer another server process left unfinished", "message_id", m.ID)
			s.resume(m)
		}
	}
}

// resume writes a claimed answer again from the start, as the account that
// asked for it.
func (s *Service) resume(m *domain.Message) {
	ctx := s.ctx
	fail := func(why string, err error) {
		s.logger.Warn("assistant: an answer left unfinished could not be taken over", "message_id", m.ID, "why", why, "err", err)
		m.Status, m.Error, m.UpdatedAt = domain.MessageFailed, "The server stopped while this answer was written. Please send the message again.", s.now()
		if err := s.store.UpdateMessage(context.WithoutCancel(ctx), m); err != nil {
			s.logger.Error("assistant: save answer", "message_id", m.ID, "err", err)
		}
	}
	c, err := s.store.Conversation(ctx, m.ConversationID)
	if err != nil {
		fail("conversation", err)
		return
	}
	u, err := s.store.UserByID(ctx, c.UserID)
	if err != nil || u.Disabled {
		fail("account", err)
		return
	}
	p := &domain.Principal{UserID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, Account: u}
	pctx := domain.WithPrincipal(ctx, p)
	msgs, err := s.store.Messages(ctx, c.ID)
	if err != nil {
		fail("messages", err)
		return
	}
	// The turn is the user's message just before the answer; what came
	// before it is the history the answer was begun with.
	at := -1
	for i, x := range msgs {
		if x.ID == m.ID {
			at = i
		}
	}
	asked := -1
	for i := at - 1; i >= 0; i-- {
		if msgs[i].Role == domain.RoleUser {
			asked = i
			break
		}
	}
	if at < 0 || asked < 0 {
		fail("question", nil)
		return
	}
	ch, err := s.choose(pctx, p, m.Provider, m.Model)
	if err != nil {
		ch, err = s.choose(pctx, p, c.Provider, c.Model)
	}
	if err != nil {
		fail("provider", err)
		return
	}

	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return // shutting down: the next leader takes it over
	}
	for _, g := range s.gens {
		if g.conversationID == c.ID {
			s.mu.Unlock()
			fail("busy", nil)
			return
		}
	}
	s.wg.Add(1)
	gctx, cancel := context.WithCancelCause(pctx)
	g := &generation{id: m.ID, conversationID: c.ID, userID: u.ID, cancel: cancel, subs: map[chan Event]struct{}{}}
	s.gens[m.ID] = g
	s.mu.Unlock()

	m.Content, m.Citations, m.Error, m.Notice, m.Redacted = "", nil, "", "", 0
	m.Status, m.Provider, m.Model, m.UpdatedAt = domain.MessageStreaming, ch.info.Name, ch.model.Name, s.now()
	t := turn{content: msgs[asked].Content, history: priorTurns(msgs[:asked]), choice: ch, patientID: c.PatientID, conversationID: c.ID}
	go s.write(gctx, cancel, g, t, m, msgs[asked].ID)
}
