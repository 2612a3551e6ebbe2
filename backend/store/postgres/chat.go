package postgres

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
	"github.com/jackc/pgx/v5"
)

const conversationColumns = `id, user_id, COALESCE(patient_id, ''), title, provider, model, created_at, updated_at, deleted_at`

func scanConversation(row pgx.Row) (*domain.Conversation, error) {
	var c domain.Conversation
	var deleted *time.Time
	if err := row.Scan(&c.ID, &c.UserID, &c.PatientID, &c.Title, &c.Provider, &c.Model, &c.CreatedAt, &c.UpdatedAt, &deleted); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if deleted != nil {
		c.DeletedAt = deleted.UTC()
	}
	return &c, nil
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (db *DB) CreateConversation(ctx context.Context, c *domain.Conversation) error {
	if c.ID == "" {
		c.ID = newID()
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO conversations (id, user_id, patient_id, title, provider, model, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, c.ID, c.UserID, nullString(c.PatientID), c.Title, c.Provider, c.Model, c.CreatedAt.UTC(), c.UpdatedAt.UTC())
	return mapErr(err, "create conversation")
}

func (db *DB) Conversation(ctx context.Context, id string) (*domain.Conversation, error) {
	c, err := scanConversation(db.pool.QueryRow(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE id = $1 AND deleted_at IS NULL`, id))
	return c, mapErr(err, "read conversation")
}

// likePattern matches q anywhere, with LIKE's wildcards taken literally.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(q) + "%"
}

func (db *DB) Conversations(ctx context.Context, f domain.ConversationFilter) ([]*domain.Conversation, error) {
	q := `SELECT ` + conversationColumns + ` FROM conversations c WHERE user_id = $1 AND deleted_at IS NULL
		AND ($2::timestamptz IS NULL OR updated_at < $2)
		AND ($3 = '' OR title ILIKE $4 OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.content ILIKE $4))
		ORDER BY updated_at DESC, id DESC LIMIT $5`
	rows, err := db.pool.Query(ctx, q, f.UserID, nullTime(f.Before), f.Query, likePattern(f.Query), f.Limit)
	if err != nil {
		return nil, mapErr(err, "list conversations")
	}
	defer rows.Close()
	out := []*domain.Conversation{}
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, mapErr(err, "list conversations")
		}
		out = append(out, c)
	}
	return out, mapErr(rows.Err(), "list conversations")
}

// changeConversation runs an update on a live conversation; none means not found.
func (db *DB) changeConversation(ctx context.Context, what, query string, args ...any) error {
	tag, err := db.pool.Exec(ctx, query, args...)
	if err != nil {
		return mapErr(err, what)
	}
	if tag.RowsAffected() == 0 {
		return &domain.Error{Code: domain.ENOTFOUND, Message: "No such conversation."}
	}
	return nil
}

func (db *DB) RenameConversation(ctx context.Context, id, title string, at time.Time) error {
	return db.changeConversation(ctx, "rename conversation", `UPDATE conversations SET title = $1, updated_at = $2 WHERE id = $3 AND deleted_at IS NULL`, title, at.UTC(), id)
}

func (db *DB) DeleteConversation(ctx context.Context, id string, at time.Time) error {
	return db.changeConversation(ctx, "delete conversation", `UPDATE conversations SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL`, at.UTC(), id)
}

func (db *DB) PurgeConversations(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := db.tx(ctx, "purge conversations", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM messages WHERE conversation_id IN
			(SELECT id FROM conversations WHERE deleted_at < $1)`, cutoff.UTC()); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM conversations WHERE deleted_at < $1`, cutoff.UTC())
		n = int(tag.RowsAffected())
		return err
	})
	return n, err
}

const messageColumns = `id, conversation_id, role, content, status, notice, citations, provider, model, tokens_in, tokens_out, redacted, error, created_at, updated_at`

func scanMessage(row pgx.Row) (*domain.Message, error) {
	var m domain.Message
	var citations []byte
	if err := row.Scan(&m.ID, &m.ConversationID, &m.Role, &m.Content, &m.Status, &m.Notice, &citations, &m.Provider, &m.Model,
		&m.TokensIn, &m.TokensOut, &m.Redacted, &m.Error, &m.CreatedAt, &m.UpdatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(citations, &m.Citations); err != nil {
		return nil, err
	}
	if m.Citations == nil {
		m.Citations = []domain.Citation{}
	}
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return &m, nil
}

func citationsJSON(c []domain.Citation) (string, error) {
	if c == nil {
		c = []domain.Citation{}
	}
	b, err := json.Marshal(c)
	return string(b), err
}

func (db *DB) AddMessage(ctx context.Context, m *domain.Message) error {
	if m.ID == "" {
		m.ID = newID()
	}
	cites, err := citationsJSON(m.Citations)
	if err != nil {
		return err
	}
	return db.tx(ctx, "add message", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE conversations SET updated_at = $1 WHERE id = $2 AND deleted_at IS NULL`, m.CreatedAt.UTC(), m.ConversationID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return &domain.Error{Code: domain.ENOTFOUND, Message: "No such conversation."}
		}
		_, err = tx.Exec(ctx, `INSERT INTO messages (`+messageColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14, $15)`,
			m.ID, m.ConversationID, m.Role, m.Content, m.Status, m.Notice, cites, m.Provider, m.Model, m.TokensIn, m.TokensOut, m.Redacted, m.Error,
			m.CreatedAt.UTC(), m.UpdatedAt.UTC())
		return err
	})
}

func (db *DB) UpdateMessage(ctx context.Context, m *domain.Message) error {
	cites, err := citationsJSON(m.Citations)
	if err != nil {
		return err
	}
	tag, err := db.pool.Exec(ctx, `UPDATE messages SET content = $1, status = $2, notice = $3, citations = $4::jsonb, provider = $5, model = $6,
		tokens_in = $7, tokens_out = $8, redacted = $9, error = $10, updated_at = $11 WHERE id = $12`,
		m.Content, m.Status, m.Notice, cites, m.Provider, m.Model, m.TokensIn, m.TokensOut, m.Redacted, m.Error, m.UpdatedAt.UTC(), m.ID)
	if err != nil {
		return mapErr(err, "update message")
	}
	if tag.RowsAffected() == 0 {
		return &domain.Error{Code: domain.ENOTFOUND, Message: "No such message."}
	}
	return nil
}

func (db *DB) Messages(ctx context.Context, conversationID string) ([]*domain.Message, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages WHERE conversation_id = $1 ORDER BY created_at, id`, conversationID)
	if err != nil {
		return nil, mapErr(err, "read messages")
	}
	defer rows.Close()
	out := []*domain.Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, mapErr(err, "read messages")
		}
		out = append(out, m)
	}
	return out, mapErr(rows.Err(), "read messages")
}

func (db *DB) Message(ctx context.Context, id string) (*domain.Message, error) {
	m, err := scanMessage(db.pool.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1`, id))
	return m, mapErr(err, "read message")
}

func (db *DB) TouchMessage(ctx context.Context, id string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `UPDATE messages SET updated_at = $2 WHERE id = $1 AND status = 'streaming'`, id, at.UTC())
	return mapErr(err, "mark answer")
}

func (db *DB) ClaimStaleAnswers(ctx context.Context, before, at time.Time) ([]*domain.Message, error) {
	// One statement: a row another caller claimed first no longer matches
	// once its lock is released, and is skipped.
	rows, err := db.pool.Query(ctx, `UPDATE messages SET updated_at = $2 WHERE status = 'streaming' AND updated_at < $1
		RETURNING `+messageColumns, before.UTC(), at.UTC())
	if err != nil {
		return nil, mapErr(err, "claim unfinished answers")
	}
	defer rows.Close()
	var out []*domain.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, mapErr(err, "claim unfinished answers")
		}
		out = append(out, m)
	}
	return out, mapErr(rows.Err(), "claim unfinished answers")
}

func (db *DB) InterruptStreaming(ctx context.Context, at time.Time) (int, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE messages SET status = 'failed', error = 'The server stopped while this answer was written.', updated_at = $1
		WHERE status = 'streaming'`, at.UTC())
	if err != nil {
		return 0, mapErr(err, "interrupt answers")
	}
	return int(tag.RowsAffected()), nil
}

const providerColumns = `id, name, kind, base_url, region, external, enabled, is_default, models, api_key, created_at, updated_at`

func scanProvider(row pgx.Row) (*domain.LLMProvider, error) {
	var p domain.LLMProvider
	var models []byte
	if err := row.Scan(&p.ID, &p.Name, &p.Kind, &p.BaseURL, &p.Region, &p.External, &p.Enabled, &p.Default, &models, &p.APIKey, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(models, &p.Models); err != nil {
		return nil, err
	}
	p.HasAPIKey = p.APIKey != ""
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return &p, nil
}

func (db *DB) Providers(ctx context.Context) ([]*domain.LLMProvider, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+providerColumns+` FROM llm_providers ORDER BY name`)
	if err != nil {
		return nil, mapErr(err, "list providers")
	}
	defer rows.Close()
	out := []*domain.LLMProvider{}
	for rows.Next() {
		p, err := scanProvider(rows)
		if err != nil {
			return nil, mapErr(err, "list providers")
		}
		out = append(out, p)
	}
	return out, mapErr(rows.Err(), "list providers")
}

func (db *DB) Provider(ctx context.Context, id string) (*domain.LLMProvider, error) {
	p, err := scanProvider(db.pool.QueryRow(ctx, `SELECT `+providerColumns+` FROM llm_providers WHERE id = $1`, id))
	return p, mapErr(err, "read provider")
}

func (db *DB) SaveProvider(ctx context.Context, p *domain.LLMProvider) error {
	if p.ID == "" {
		p.ID = newID()
	}
	models, err := json.Marshal(p.Models)
	if err != nil {
		return err
	}
	return db.tx(ctx, "save provider", func(tx pgx.Tx) error {
		if p.Default {
			if _, err := tx.Exec(ctx, `UPDATE llm_providers SET is_default = false WHERE id <> $1`, p.ID); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO llm_providers (`+providerColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, base_url = excluded.base_url, region = excluded.region,
				external = excluded.external, enabled = excluded.enabled, is_default = excluded.is_default, models = excluded.models,
				api_key = excluded.api_key, updated_at = excluded.updated_at`,
			p.ID, p.Name, p.Kind, p.BaseURL, p.Region, p.External, p.Enabled, p.Default, string(models), p.APIKey, p.CreatedAt.UTC(), p.UpdatedAt.UTC())
		return err
	})
}

func (db *DB) DeleteProvider(ctx context.Context, id string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM llm_providers WHERE id = $1`, id)
	if err != nil {
		return mapErr(err, "delete provider")
	}
	if tag.RowsAffected() == 0 {
		return &domain.Error{Code: domain.ENOTFOUND, Message: "No such provider."}
	}
	return nil
}

func (db *DB) AddUsage(ctx context.Context, u domain.Usage) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO ai_usage (user_id, day, provider, messages, tokens_in, tokens_out) VALUES ($1, $2::date, $3, $4, $5, $6)
		ON CONFLICT (day, user_id, provider) DO UPDATE SET messages = ai_usage.messages + excluded.messages,
			tokens_in = ai_usage.tokens_in + excluded.tokens_in, tokens_out = ai_usage.tokens_out + excluded.tokens_out`,
		u.UserID, u.Day, u.Provider, u.Messages, u.TokensIn, u.TokensOut)
	return mapErr(err, "record usage")
}

func (db *DB) UsageBetween(ctx context.Context, from, to, userID string) ([]domain.Usage, error) {
	rows, err := db.pool.Query(ctx, `SELECT user_id, to_char(day, 'YYYY-MM-DD'), provider, messages, tokens_in, tokens_out FROM ai_usage
		WHERE day >= $1::date AND day <= $2::date AND ($3 = '' OR user_id = $3) ORDER BY day, user_id, provider`, from, to, userID)
	if err != nil {
		return nil, mapErr(err, "read usage")
	}
	defer rows.Close()
	out := []domain.Usage{}
	for rows.Next() {
		var u domain.Usage
		if err := rows.Scan(&u.UserID, &u.Day, &u.Provider, &u.Messages, &u.TokensIn, &u.TokensOut); err != nil {
			return nil, mapErr(err, "read usage")
		}
		out = append(out, u)
	}
	return out, mapErr(rows.Err(), "read usage")
}

func (db *DB) PatientNames(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT name FROM patients ORDER BY name`)
	if err != nil {
		return nil, mapErr(err, "read patient names")
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return names, mapErr(err, "read patient names")
}
