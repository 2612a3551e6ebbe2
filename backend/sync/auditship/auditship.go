// Package auditship ships a node's audit log to its upstream with proofs
// that the upstream received all of it, unaltered and in order.
//
// A node's log is already a hash chain (each event's hash covers the one
// before it). On top of it the node keeps a Merkle tree (RFC 6962, as
// golang.org/x/mod/sumdb/tlog builds it) whose leaves are the events' hashes
// in sequence order, and signs checkpoints of it with its Ed25519 key in the
// signed-note format (golang.org/x/mod/sumdb/note): the node's name, the
// number of events, the tree's root. A batch carries the next events, the
// signed checkpoint after them and a consistency proof from the last
// checkpoint the upstream accepted. The upstream accepts a batch only when
// the signature holds, the events continue the node's sequence and chain,
// the root it computes over everything it holds equals the checkpoint's,
// and the proof shows the new tree extends the old one. An event sent again
// unchanged is accepted (a batch redelivered after a lost answer); the same
// sequence number with other content is refused as a divergence, which the
// caller raises as a security alert.
package auditship

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/healthhub/healthhub/backend/domain"
)

// Checkpoint is a signed statement of a node's log: the first Size events
// have the tree root Root.
type Checkpoint struct {
	Node string
	Size int64
	Root tlog.Hash
}

// text is the checkpoint as it is signed: the node, the size and the root,
// a line each.
func (c Checkpoint) text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Node, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// Sign returns the checkpoint signed by the node's signer, whose name must
// be the checkpoint's node.
func Sign(c Checkpoint, s note.Signer) ([]byte, error) {
	if s.Name() != c.Node {
		return nil, fmt.Errorf("auditship: signer %q signs for node %q", s.Name(), c.Node)
	}
	return note.Sign(&note.Note{Text: c.text()}, s)
}

// Open verifies a signed checkpoint with the node's key and reads it.
func Open(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return Checkpoint{}, fmt.Errorf("%w: a checkpoint has three lines", ErrMalformed)
	}
	c := Checkpoint{Node: lines[0]}
	if c.Node != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint of %q signed as %q", ErrBadSignature, c.Node, v.Name())
	}
	if c.Size, err = strconv.ParseInt(lines[1], 10, 64); err != nil || c.Size < 0 {
		return Checkpoint{}, fmt.Errorf("%w: size %q", ErrMalformed, lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("%w: root %q", ErrMalformed, lines[2])
	}
	copy(c.Root[:], root)
	return c, nil
}

// Errors of Accept. ErrDivergent is a security matter: the node's log was
// edited, or another machine speaks with its key.
var (
	ErrBadSignature = errors.New("auditship: the checkpoint's signature does not verify")
	ErrMalformed    = errors.New("auditship: malformed batch")
	ErrGap          = errors.New("auditship: the batch does not continue the node's log")
	ErrBrokenChain  = errors.New("auditship: an event does not link to the one before it")
	ErrWrongRoot    = errors.New("auditship: the checkpoint's root is not the tree of the events")
	ErrBadProof     = errors.New("auditship: the consistency proof does not verify")
	ErrDivergent    = errors.New("auditship: an event already received has changed")
)

// leaf is an event's leaf in the tree: the record hash of its chain hash,
// which covers the event and, through its predecessor, the whole log.
func leaf(e *domain.AuditEvent) tlog.Hash { return tlog.RecordHash([]byte(e.Hash)) }

// Tree is a log's Merkle tree (tlog's layout: the hashes of every complete
// subtree, in the order they complete) and the last event's sequence and
// chain hash. The first hashes may be in a store (LoadTree), read only as a
// proof or a new leaf needs them; those added since are held in memory. The
// node keeps one over its own log, the upstream one for each node; the zero
// value is an empty log.
type Tree struct {
	stored   tlog.HashReader // hashes [0, base)
	base     int64
	hashes   []tlog.Hash // hashes [base, …)
	size     int64
	headHash string
}

// LoadTree is the tree of size events whose hashes stored holds (the first
// tlog.StoredHashCount(size) of them); head is the last event's chain hash.
func LoadTree(size int64, head string, stored tlog.HashReader) *Tree {
	return &Tree{stored: stored, base: tlog.StoredHashCount(size), size: size, headHash: head}
}

// Size is the number of events in the tree.
func (t *Tree) Size() int64 { return t.size }

// HeadHash is the chain hash of the last event ("" for an empty tree).
func (t *Tree) HeadHash() string { return t.headHash }

// Added returns the hashes appended since the tree was loaded, with their
// indexes, for the caller to store.
func (t *Tree) Added() []domain.StoredHash {
	out := make([]domain.StoredHash, len(t.hashes))
	for i, h := range t.hashes {
		out[i] = domain.StoredHash{Index: t.base + int64(i), Hash: h}
	}
	return out
}

// ReadHashes implements tlog.HashReader.
func (t *Tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var old []int64
	for i, x := range indexes {
		switch {
		case x < 0 || x >= t.base+int64(len(t.hashes)):
			return nil, fmt.Errorf("auditship: no stored hash %d", x)
		case x >= t.base:
			out[i] = t.hashes[x-t.base]
		default:
			old = append(old, x)
		}
	}
	if len(old) == 0 {
		return out, nil
	}
	got, err := t.stored.ReadHashes(old)
	if err != nil {
		return nil, err
	}
	if len(got) != len(old) {
		return nil, fmt.Errorf("auditship: asked for %d stored hashes, read %d", len(old), len(got))
	}
	j := 0
	for i, x := range indexes {
		if x < t.base {
			out[i] = got[j]
			j++
		}
	}
	return out, nil
}

// Root is the tree's root hash.
func (t *Tree) Root() (tlog.Hash, error) { return tlog.TreeHash(t.size, t) }

// clone is a copy that can be extended without changing t.
func (t *Tree) clone() *Tree {
	c := *t
	c.hashes = append([]tlog.Hash(nil), t.hashes...)
	return &c
}

// Append adds the next event: it must continue the sequence and the chain.
func (t *Tree) Append(e *domain.AuditEvent) error {
	if e.Seq != t.size+1 {
		return fmt.Errorf("%w: event %d after %d", ErrGap, e.Seq, t.size)
	}
	if !e.Intact() || (t.size > 0 && e.PrevHash != t.headHash) {
		return fmt.Errorf("%w: event %d", ErrBrokenChain, e.Seq)
	}
	hs, err := tlog.StoredHashesForRecordHash(t.size, leaf(e), t)
	if err != nil {
		return err
	}
	t.hashes = append(t.hashes, hs...)
	t.size++
	t.headHash = e.Hash
	return nil
}

// Checkpoint is the tree's current checkpoint for node.
func (t *Tree) Checkpoint(node string) (Checkpoint, error) {
	root, err := t.Root()
	return Checkpoint{Node: node, Size: t.size, Root: root}, err
}

// Prove returns the proof that the tree of the first old events is a prefix
// of this tree.
func (t *Tree) Prove(old int64) (tlog.TreeProof, error) {
	if old == 0 || old == t.size {
		return nil, nil
	}
	return tlog.ProveTree(t.size, old, t)
}

// Batch is what a node sends: events From..From+len(Events)-1, the signed
// checkpoint after them, and the proof from the checkpoint the upstream last
// accepted (size Since).
type Batch struct {
	Events     []*domain.AuditEvent `json:"events"`
	Checkpoint []byte               `json:"checkpoint"`
	Since      int64                `json:"since"`
	Proof      tlog.TreeProof       `json:"proof"`
}

// NewBatch makes the batch of next, the events that follow those in acked
// (the tree of what the upstream holds), with a checkpoint signed by s and
// the proof from acked's size. It returns the tree extended by next, which
// the node keeps once the upstream accepts the batch; acked is unchanged.
func NewBatch(acked *Tree, next []*domain.AuditEvent, s note.Signer) (*Batch, *Tree, error) {
	ext := acked.clone()
	for _, e := range next {
		if err := ext.Append(e); err != nil {
			return nil, nil, err
		}
	}
	c, err := ext.Checkpoint(s.Name())
	if err != nil {
		return nil, nil, err
	}
	signed, err := Sign(c, s)
	if err != nil {
		return nil, nil, err
	}
	proof, err := ext.Prove(acked.size)
	if err != nil {
		return nil, nil, err
	}
	return &Batch{Events: next, Checkpoint: signed, Since: acked.size, Proof: proof}, ext, nil
}

// Accepted is what Accept did with a batch.
type Accepted struct {
	New        int        // events added
	Redelivery int        // events already held, unchanged
	Checkpoint Checkpoint // the checkpoint now accepted
}

// Accept checks a batch against the node's tree t at the upstream, whose
// last accepted checkpoint is last (zero for none), and on success appends
// its new events to t. Nothing is appended unless all of it checks. held
// returns an event the upstream already stores, by sequence.
func Accept(t *Tree, last Checkpoint, b *Batch, v note.Verifier, held func(seq int64) (*domain.AuditEvent, error)) (Accepted, error) {
	c, err := Open(b.Checkpoint, v)
	if err != nil {
		return Accepted{}, err
	}
	var out Accepted
	// Events the upstream holds must come back unchanged.
	var fresh []*domain.AuditEvent
	for i, e := range b.Events {
		if e == nil {
			return Accepted{}, fmt.Errorf("%w: event %d is empty", ErrMalformed, i)
		}
		if e.Seq > t.size {
			fresh = b.Events[i:]
			break
		}
		h, err := held(e.Seq)
		if err != nil {
			return Accepted{}, err
		}
		if h.Hash != e.Hash || !e.Intact() {
			return Accepted{}, fmt.Errorf("%w: event %d", ErrDivergent, e.Seq)
		}
		out.Redelivery++
	}
	if c.Size < t.size {
		// A checkpoint of a shorter log than accepted: only a redelivery
		// of events already held, which must match the tree they were
		// accepted in.
		if len(fresh) > 0 {
			return Accepted{}, fmt.Errorf("%w: checkpoint of %d events, %d held", ErrGap, c.Size, t.size)
		}
		old, err := tlog.TreeHash(c.Size, t)
		if err != nil {
			return Accepted{}, err
		}
		if old != c.Root {
			return Accepted{}, fmt.Errorf("%w: checkpoint of %d events", ErrDivergent, c.Size)
		}
		out.Checkpoint = last
		return out, nil
	}
	// Extend a copy; the tree changes only when everything checks.
	next := t.clone()
	for _, e := range fresh {
		if err := next.Append(e); err != nil {
			return Accepted{}, err
		}
	}
	if next.size != c.Size {
		return Accepted{}, fmt.Errorf("%w: the checkpoint covers %d events, the batch ends at %d", ErrGap, c.Size, next.size)
	}
	root, err := next.Root()
	if err != nil {
		return Accepted{}, err
	}
	if root != c.Root {
		return Accepted{}, ErrWrongRoot
	}
	// The node proves its new checkpoint extends the one accepted last.
	if last.Size > 0 && last.Size < c.Size {
		if b.Since != last.Size {
			return Accepted{}, fmt.Errorf("%w: proof from %d, last accepted %d", ErrBadProof, b.Since, last.Size)
		}
		if err := tlog.CheckTree(b.Proof, c.Size, c.Root, last.Size, last.Root); err != nil {
			return Accepted{}, fmt.Errorf("%w: %v", ErrBadProof, err)
		}
	}
	*t = *next
	out.New = len(fresh)
	out.Checkpoint = c
	return out, nil
}
