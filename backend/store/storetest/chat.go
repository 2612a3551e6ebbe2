package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/healthhub/healthhub/backend/store"
)

var chatTests = []struct {
	name string
	fn   func(t *testing.T, db store.DB)
}{
	{"Conversations", testConversations},
	{"Messages", testMessages},
	{"StaleAnswersClaimedOnce", testStaleAnswersClaimedOnce},
	{"LLMProviders", testLLMProviders},
	{"AIUsage", testAIUsage},
}

func chatUser(t *testing.T, db store.DB, email string) *domain.User {
	t.Helper()
	u := newUser(email, domain.RoleStaff)
	if err := db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func testConversations(t *testing.T, db store.DB) {
	ctx := context.Background()
	u, v := chatUser(t, db, "c1@example.org"), chatUser(t, db, "c2@example.org")
	var ids []string
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Minute)
		c := &domain.Conversation{UserID: u.ID, Title: fmt.Sprintf("Topic %d", i), CreatedAt: at, UpdatedAt: at}
		if err := db.CreateConversation(ctx, c); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if err := db.CreateConversation(ctx, &domain.Conversation{UserID: v.ID, Title: "Topic of v", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	page, err := db.Conversations(ctx, domain.ConversationFilter{UserID: u.ID, Limit: 2})
	if err != nil || len(page) != 2 || page[0].ID != ids[4] || page[1].ID != ids[3] {
		t.Fatalf("first page %v, %v", page, err)
	}
	next, err := db.Conversations(ctx, domain.ConversationFilter{UserID: u.ID, Limit: 10, Before: page[1].UpdatedAt})
	if err != nil || len(next) != 3 || next[0].ID != ids[2] {
		t.Fatalf("next page %v, %v", next, err)
	}
	// Text search covers titles and messages, with LIKE's wildcards as text.
	m := &domain.Message{ConversationID: ids[0], Role: domain.RoleUser, Content: "Is 100% of the flu_jab covered?", Status: domain.MessageComplete, CreatedAt: t0.Add(time.Hour), UpdatedAt: t0.Add(time.Hour)}
	if err := db.AddMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]int{"topic 3": 1, "100%": 1, "flu_jab": 1, "flu%jab": 0, "TOPIC": 5} {
		got, err := db.Conversations(ctx, domain.ConversationFilter{UserID: u.ID, Query: q, Limit: 10})
		if err != nil || len(got) != want {
			t.Errorf("search %q: %d results (%v), want %d", q, len(got), err, want)
		}
	}
	// Adding the message made the conversation the most recent.
	if top, _ := db.Conversations(ctx, domain.ConversationFilter{UserID: u.ID, Limit: 1}); top[0].ID != ids[0] {
		t.Fatalf("after a message, first is %s", top[0].ID)
	}
	if err := db.RenameConversation(ctx, ids[1], "Renamed", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c, err := db.Conversation(ctx, ids[1]); err != nil || c.Title != "Renamed" || c.UserID != u.ID {
		t.Fatalf("renamed %+v, %v", c, err)
	}
	// Soft delete: gone at once, purged after the cutoff with its messages.
	if err := db.DeleteConversation(ctx, ids[0], t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err = db.Conversation(ctx, ids[0])
	mustCode(t, err, domain.ENOTFOUND)
	mustCode(t, db.DeleteConversation(ctx, ids[0], t0.Add(3*time.Hour)), domain.ENOTFOUND)
	mustCode(t, db.AddMessage(ctx, &domain.Message{ConversationID: ids[0], Role: domain.RoleUser, Content: "x", Status: domain.MessageComplete, CreatedAt: t0, UpdatedAt: t0}), domain.ENOTFOUND)
	if n, err := db.PurgeConversations(ctx, t0.Add(3*time.Hour)); err != nil || n != 0 {
		t.Fatalf("purged %d before the cutoff: %v", n, err)
	}
	if n, err := db.PurgeConversations(ctx, t0.Add(4*time.Hour)); err != nil || n != 1 {
		t.Fatalf("purged %d: %v", n, err)
	}
	if msgs, err := db.Messages(ctx, ids[0]); err != nil || len(msgs) != 0 {
		t.Fatalf("messages of a purged conversation: %v %v", msgs, err)
	}
}

func testMessages(t *testing.T, db store.DB) {
	ctx := context.Background()
	u := chatUser(t, db, "m@example.org")
	c := &domain.Conversation{UserID: u.ID, CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateConversation(ctx, c); err != nil {
		t.Fatal(err)
	}
	q := &domain.Message{ConversationID: c.ID, Role: domain.RoleUser, Content: "Hours?", Status: domain.MessageComplete, CreatedAt: t0, UpdatedAt: t0}
	a := &domain.Message{ConversationID: c.ID, Role: domain.RoleAssistant, Status: domain.MessageStreaming, Provider: "p", Model: "m", CreatedAt: t0.Add(time.Microsecond), UpdatedAt: t0}
	for _, m := range []*domain.Message{q, a} {
		if err := db.AddMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	a.Content, a.Citations, a.TokensIn, a.TokensOut, a.Redacted, a.Notice = "We open at 8 [1].", []domain.Citation{{N: 1, ChunkID: 7, Title: "Hours", Source: "hours.md"}}, 10, 5, 2, "notice"
	a.UpdatedAt = t0.Add(time.Second)
	if err := db.UpdateMessage(ctx, a); err != nil {
		t.Fatal(err)
	}
	// A process that stops leaves the answer streaming; the next start marks it failed, keeping the text.
	if n, err := db.InterruptStreaming(ctx, t0.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("interrupted %d: %v", n, err)
	}
	msgs, err := db.Messages(ctx, c.ID)
	if err != nil || len(msgs) != 2 || msgs[0].ID != q.ID {
		t.Fatalf("messages %v, %v", msgs, err)
	}
	got := msgs[1]
	if got.Status != domain.MessageFailed || got.Content != a.Content || got.Error == "" || len(got.Citations) != 1 || got.Citations[0].Source != "hours.md" ||
		got.TokensIn != 10 || got.TokensOut != 5 || got.Redacted != 2 || got.Notice != "notice" || got.Model != "m" {
		t.Fatalf("stored answer %+v", got)
	}
	if one, err := db.Message(ctx, q.ID); err != nil || one.Content != "Hours?" || len(one.Citations) != 0 {
		t.Fatalf("message %+v, %v", one, err)
	}
	mustCode(t, db.UpdateMessage(ctx, &domain.Message{ID: "nope", Status: domain.MessageComplete, UpdatedAt: t0}), domain.ENOTFOUND)
}

func testLLMProviders(t *testing.T, db store.DB) {
	ctx := context.Background()
	a := &domain.LLMProvider{Name: "A", Kind: domain.ProviderOpenAI, BaseURL: "http://localhost:11434/v1", External: false, Enabled: true, Default: true,
		Models: []domain.LLMModel{{Name: "llama3", Roles: []domain.Role{domain.RoleStaff}, ContextTokens: 4096}}, APIKey: "sealed-key", CreatedAt: t0, UpdatedAt: t0}
	b := &domain.LLMProvider{Name: "B", Kind: domain.ProviderBedrock, Region: "us-east-1", External: true, Enabled: true,
		Models: []domain.LLMModel{{Name: "claude", Roles: domain.Roles}}, CreatedAt: t0, UpdatedAt: t0}
	for _, p := range []*domain.LLMProvider{a, b} {
		if err := db.SaveProvider(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	mustCode(t, db.SaveProvider(ctx, &domain.LLMProvider{Name: "A", Kind: domain.ProviderOffline, Models: []domain.LLMModel{}, CreatedAt: t0, UpdatedAt: t0}), domain.ECONFLICT)
	// One default at a time.
	b.Default, b.UpdatedAt = true, t0.Add(time.Hour)
	if err := db.SaveProvider(ctx, b); err != nil {
		t.Fatal(err)
	}
	all, err := db.Providers(ctx)
	if err != nil || len(all) != 2 || all[0].Name != "A" || all[0].Default || !all[1].Default {
		t.Fatalf("providers %+v, %v", all, err)
	}
	got, err := db.Provider(ctx, a.ID)
	if err != nil || got.APIKey != "sealed-key" || !got.HasAPIKey || got.Models[0].ContextTokens != 4096 || got.Models[0].Roles[0] != domain.RoleStaff || got.External {
		t.Fatalf("provider %+v, %v", got, err)
	}
	if err := db.DeleteProvider(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	mustCode(t, db.DeleteProvider(ctx, a.ID), domain.ENOTFOUND)
}

func testAIUsage(t *testing.T, db store.DB) {
	ctx := context.Background()
	u, v := chatUser(t, db, "u1@example.org"), chatUser(t, db, "u2@example.org")
	for _, x := range []domain.Usage{
		{UserID: u.ID, Day: "2026-03-01", Provider: "cloud", Messages: 1, TokensIn: 10, TokensOut: 5},
		{UserID: u.ID, Day: "2026-03-01", Provider: "cloud", Messages: 1, TokensIn: 20, TokensOut: 7},
		{UserID: u.ID, Day: "2026-03-01", Provider: "local", Messages: 1, TokensIn: 2, TokensOut: 2},
		{UserID: u.ID, Day: "2026-03-02", Provider: "cloud", Messages: 1, TokensIn: 1, TokensOut: 1},
		{UserID: v.ID, Day: "2026-03-01", Provider: "cloud", Messages: 3, TokensIn: 3, TokensOut: 3},
	} {
		if err := db.AddUsage(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.UsageBetween(ctx, "2026-03-01", "2026-03-01", u.ID)
	if err != nil || len(got) != 2 || got[0] != (domain.Usage{UserID: u.ID, Day: "2026-03-01", Provider: "cloud", Messages: 2, TokensIn: 30, TokensOut: 12}) ||
		got[1] != (domain.Usage{UserID: u.ID, Day: "2026-03-01", Provider: "local", Messages: 1, TokensIn: 2, TokensOut: 2}) {
		t.Fatalf("usage of u on the 1st: %+v, %v", got, err)
	}
	all, err := db.UsageBetween(ctx, "2026-02-01", "2026-03-31", "")
	if err != nil || len(all) != 4 || all[3].Day != "2026-03-02" {
		t.Fatalf("all usage: %+v, %v", all, err)
	}
	if names, err := db.PatientNames(ctx); err != nil || len(names) != 0 {
		t.Fatalf("patient names in an empty clinic: %v %v", names, err)
	}
}

// testStaleAnswersClaimedOnce: an answer whose writer keeps marking it is
// not claimed; one left silent is claimed by exactly one of many claimers
// racing, and a finished answer's marks change nothing.
func testStaleAnswersClaimedOnce(t *testing.T, db store.DB) {
	ctx := context.Background()
	u := chatUser(t, db, "stale@example.org")
	c := &domain.Conversation{UserID: u.ID, CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateConversation(ctx, c); err != nil {
		t.Fatal(err)
	}
	answer := func(at time.Time, status string) *domain.Message {
		m := &domain.Message{ConversationID: c.ID, Role: domain.RoleAssistant, Status: status, Provider: "p", Model: "m", CreatedAt: at, UpdatedAt: at}
		if err := db.AddMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	alive := answer(t0, domain.MessageStreaming)
	silent := answer(t0.Add(time.Microsecond), domain.MessageStreaming)
	done := answer(t0.Add(2*time.Microsecond), domain.MessageComplete)
	if err := db.TouchMessage(ctx, alive.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.TouchMessage(ctx, done.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if m, err := db.Message(ctx, done.ID); err != nil || !m.UpdatedAt.Equal(t0.Add(2*time.Microsecond)) {
		t.Fatalf("a finished answer was marked: %+v, %v", m, err)
	}
	const claimers = 8
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	for range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := db.ClaimStaleAnswers(ctx, t0.Add(30*time.Second), t0.Add(40*time.Second))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, m := range got {
				claimed[m.ID]++
				if m.ConversationID != c.ID || m.Status != domain.MessageStreaming || m.Provider != "p" {
					t.Errorf("claimed answer %+v", m)
				}
			}
		}()
	}
	wg.Wait()
	if len(claimed) != 1 || claimed[silent.ID] != 1 {
		t.Fatalf("claimed %v, want the silent answer %s once", claimed, silent.ID)
	}
	// Claimed means marked: not claimed again until it is silent again.
	if got, err := db.ClaimStaleAnswers(ctx, t0.Add(30*time.Second), t0.Add(50*time.Second)); err != nil || len(got) != 0 {
		t.Fatalf("claimed again: %v, %v", got, err)
	}
	if got, err := db.ClaimStaleAnswers(ctx, t0.Add(2*time.Minute), t0.Add(2*time.Minute)); err != nil || len(got) != 2 {
		t.Fatalf("both streaming answers silent past the cut-off: claimed %d, %v", len(got), err)
	}
}
