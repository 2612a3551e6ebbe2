package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/healthhub/healthhub/backend/domain"
)

const conversationColumns = `id, user_id, COALESCE(patient_id, ''), title, provider, model, created_at, updated_at, deleted_at`

func scanConversation(row scanner) (*domain.Conversation, error) {
	var c domain.Conversation
	var created, updated, deleted string
	if err := row.Scan(&c.ID, &c.UserID, &c.PatientID, &c.Title, &c.Provider, &c.Model, &created, &updated, &deleted); err != nil {
		return nil, err
	}
	return &c, times(&c.CreatedAt, created, &c.UpdatedAt, updated, &c.DeletedAt, deleted)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (db *DB) CreateConversation(ctx context.Context, c *domain.Conversation) error {
	if c.ID == "" {
		c.ID = newID()
	}
	_, err := db.writer.ExecContext(ctx, `INSERT INTO conversations (id, user_id, patient_id, title, provider, model, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.UserID, nullString(c.PatientID), c.Title, c.Provider, c.Model, fmtTime(c.CreatedAt), fmtTime(c.UpdatedAt))
	return mapErr(err, "create conversation")
}

func (db *DB) Conversation(ctx context.Context, id string) (*domain.Conversation, error) {
	c, err := scanConversation(db.reader.QueryRowContext(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE id = ? AND deleted_at = ''`, id))
	return c, mapErr(err, "read conversation")
}

// likePattern matches q anywhere, with LIKE's wildcards taken literally.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(q) + "%"
}

func (db *DB) Conversations(ctx context.Context, f domain.ConversationFilter) ([]*domain.Conversation, error) {
	q := `SELECT ` + conversationColumns + ` FROM conversations c WHERE user_id = ? AND deleted_at = ''`
	args := []any{f.UserID}
	if !f.Before.IsZero() {
		q += ` AND updated_at < ?`
		args = append(args, fmtTime(f.Before))
	}
	if f.Query != "" {
		q += ` AND (title LIKE ? ESCAPE '\' OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.content LIKE ? ESCAPE '\'))`
		p := likePattern(f.Query)
		args = append(args, p, p)
	}
	q += ` ORDER BY updated_at DESC, id DESC LIMIT ?`
	args = append(args, f.Limit)
	rows, err := db.reader.QueryContext(ctx, q, args...)
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
	res, err := db.writer.ExecContext(ctx, query, args...)
	if err != nil {
		return mapErr(err, what)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &domain.Error{Code: domain.ENOTFOUND, Message: "No such conversation."}
	}
	return nil
}

func (db *DB) RenameConversation(ctx context.Context, id, title string, at time.Time) error {
	return db.changeConversation(ctx, "rename conversation", `UPDATE conversations SET title = ?, updated_at = ? WHERE id = ? AND deleted_at = ''`, title, fmtTime(at), id)
}

func (db *DB) DeleteConversation(ctx context.Context, id string, at time.Time) error {
	return db.changeConversation(ctx, "delete conversation", `UPDATE conversations SET deleted_at = ? WHERE id = ? AND deleted_at = ''`, fmtTime(at), id)
}

func (db *DB) PurgeConversations(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE conversation_id IN
			(SELECT id FROM conversations WHERE deleted_at <> '' AND deleted_at < ?)`, fmtTime(cutoff)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM conversations WHERE deleted_at <> '' AND deleted_at < ?`, fmtTime(cutoff))
		if err != nil {
			return err
		}
		c, _ := res.RowsAffected()
		n = int(c)
		return nil
	})
	return n, mapErr(err, "purge conversations")
}

const messageColumns = `id, conversation_id, role, content, status, notice, citations, provider, model, tokens_in, tokens_out, redacted, error, created_at, updated_at`

func scanMessage(row scanner) (*domain.Message, error) {
	var m domain.Message
	var citations, created, updated string
	if err := row.Scan(&m.ID, &m.ConversationID, &m.Role, &m.Content, &m.Status, &m.Notice, &citations, &m.Provider, &m.Model,
		&m.TokensIn, &m.TokensOut, &m.Redacted, &m.Error, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(citations), &m.Citations); err != nil {
		return nil, err
	}
	if m.Citations == nil {
		m.Citations = []domain.Citation{}
	}
	return &m, times(&m.CreatedAt, created, &m.UpdatedAt, updated)
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
	return mapErr(db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE conversations SET updated_at = ? WHERE id = ? AND deleted_at = ''`, fmtTime(m.CreatedAt), m.ConversationID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &domain.Error{Code: domain.ENOTFOUND, Message: "No such conversation."}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO messages (`+messageColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.ID, m.ConversationID, m.Role, m.Content, m.Status, m.Notice, cites, m.Provider, m.Model, m.TokensIn, m.TokensOut, m.Redacted, m.Error,
			fmtTime(m.CreatedAt), fmtTime(m.UpdatedAt))
		return err
	}), "add message")
}

func (db *DB) UpdateMessage(ctx context.Context, m *domain.Message) error {
	cites, err := citationsJSON(m.Citations)
	if err != nil {
		return err
	}
	res, err := db.writer.ExecContext(ctx, `UPDATE messages SET content = ?, status = ?, notice = ?, citations = ?, provider = ?, model = ?,
		tokens_in = ?, tokens_out = ?, redacted = ?, error = ?, updated_at = ? WHERE id = ?`,
		m.Content, m.Status, m.Notice, cites, m.Provider, m.Model, m.TokensIn, m.TokensOut, m.Redacted, m.Error, fmtTime(m.UpdatedAt), m.ID)
	if err != nil {
		return mapErr(err, "update message")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &domain.Error{Code: domain.ENOTFOUND, Message: "No such message."}
	}
	return nil
}

func (db *DB) Messages(ctx context.Context, conversationID string) ([]*domain.Message, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE conversation_id = ? ORDER BY created_at, id`, conversationID)
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
	m, err := scanMessage(db.reader.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = ?`, id))
	return m, mapErr(err, "read message")
}

func (db *DB) TouchMessage(ctx context.Context, id string, at time.Time) error {
	_, err := db.writer.ExecContext(ctx, `UPDATE messages SET updated_at = ? WHERE id = ? AND status = 'streaming'`, fmtTime(at), id)
	return mapErr(err, "mark answer")
}

func (db *DB) ClaimStaleAnswers(ctx context.Context, before, at time.Time) ([]*domain.Message, error) {
	rows, err := db.writer.QueryContext(ctx, `UPDATE messages SET updated_at = ? WHERE status = 'streaming' AND updated_at < ?
		RETURNING `+messageColumns, fmtTime(at), fmtTime(before))
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
	res, err := db.writer.ExecContext(ctx, `UPDATE messages SET status = 'failed', error = 'The server stopped while this answer was written.', updated_at = ?
		WHERE status = 'streaming'`, fmtTime(at))
	if err != nil {
		return 0, mapErr(err, "interrupt answers")
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

const providerColumns = `id, name, kind, base_url, region, external, enabled, is_default, models, api_key, created_at, updated_at`

func scanProvider(row scanner) (*domain.LLMProvider, error) {
	var p domain.LLMProvider
	var models, created, updated string
	if err := row.Scan(&p.ID, &p.Name, &p.Kind, &p.BaseURL, &p.Region, &p.External, &p.Enabled, &p.Default, &models, &p.APIKey, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(models), &p.Models); err != nil {
		return nil, err
	}
	p.HasAPIKey = p.APIKey != ""
	return &p, times(&p.CreatedAt, created, &p.UpdatedAt, updated)
}

func (db *DB) Providers(ctx context.Context) ([]*domain.LLMProvider, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+providerColumns+` FROM llm_providers ORDER BY name`)
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
	p, err := scanProvider(db.reader.QueryRowContext(ctx, `SELECT `+providerColumns+` FROM llm_providers WHERE id = ?`, id))
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
	return mapErr(db.tx(ctx, func(tx *sql.Tx) error {
		if p.Default {
			if _, err := tx.ExecContext(ctx, `UPDATE llm_providers SET is_default = 0 WHERE id <> ?`, p.ID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO llm_providers (`+providerColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, base_url = excluded.base_url, region = excluded.region,
				external = excluded.external, enabled = excluded.enabled, is_default = excluded.is_default, models = excluded.models,
				api_key = excluded.api_key, updated_at = excluded.updated_at`,
			p.ID, p.Name, p.Kind, p.BaseURL, p.Region, p.External, p.Enabled, p.Default, string(models), p.APIKey, fmtTime(p.CreatedAt), fmtTime(p.UpdatedAt))
		return err
	}), "save provider")
}

func (db *DB) DeleteProvider(ctx context.Context, id string) error {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM llm_providers WHERE id = ?`, id)
	if err != nil {
		return mapErr(err, "delete provider")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &domain.Error{Code: domain.ENOTFOUND, Message: "No such provider."}
	}
	return nil
}

func (db *DB) AddUsage(ctx context.Context, u domain.Usage) error {
	_, err := db.writer.ExecContext(ctx, `INSERT INTO ai_usage (user_id, day, provider, messages, tokens_in, tokens_out) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (day, user_id, provider) DO UPDATE SET messages = messages + excluded.messages,
			tokens_in = tokens_in + excluded.tokens_in, tokens_out = tokens_out + excluded.tokens_out`,
		u.UserID, u.Day, u.Provider, u.Messages, u.TokensIn, u.TokensOut)
	return mapErr(err, "record usage")
}

func (db *DB) UsageBetween(ctx context.Context, from, to, userID string) ([]domain.Usage, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT user_id, day, provider, messages, tokens_in, tokens_out FROM ai_usage
		WHERE day >= ? AND day <= ? AND (? = '' OR user_id = ?) ORDER BY day, user_id, provider`, from, to, userID, userID)
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
	rows, err := db.reader.QueryContext(ctx, `SELECT name FROM patients ORDER BY name`)
	if err != nil {
		return nil, mapErr(err, "read patient names")
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, mapErr(err, "read patient names")
		}
		out = append(out, n)
	}
	return out, mapErr(rows.Err(), "read patient names")
}
