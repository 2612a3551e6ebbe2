package fhir

import (
	"net/http"
	"strconv"

	"github.com/healthhub/healthhub/backend/audit"
	"github.com/healthhub/healthhub/backend/domain"
)

// searchAuditEvents lists audit events, newest first, as AuditEvent
// resources (admins only). Reading the audit log is itself audited, before
// the read, as GET /api/v1/audit/events does. Pages are linked with a
// cursor (_before, a sequence number) rather than an offset, because the log
// grows at its head while it is paged through (each page read adds an
// event); the total is given when the first page holds every match.
func (h *Handlers) searchAuditEvents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q, err := parseParams(r.URL.RawQuery, "AuditEvent", "patient", "agent", "date", "_count", "_before")
	if err != nil {
		return err
	}
	var f domain.AuditFilter
	if _, f.PatientID, err = q.reference("patient", h.base(r), "Patient"); err != nil {
		return err
	}
	if f.ActorID, err = q.single("agent"); err != nil {
		return err
	}
	if f.ActorID != "" && !validID(f.ActorID) {
		return domain.Invalid("agent", "agent is the id of the user who acted (AuditEvent.agent.who.identifier.value), 1 to 64 letters, digits, '-' and '.'.")
	}
	rng, err := q.dates("date")
	if err != nil {
		return err
	}
	f.From, f.To = rng.From, rng.To
	n, err := q.integer("_count", 1, maxCount, defaultCount)
	if err != nil {
		return err
	}
	if s, err := q.single("_before"); err != nil {
		return err
	} else if s != "" {
		if f.BeforeSeq, err = strconv.ParseInt(s, 10, 64); err != nil || f.BeforeSeq < 1 {
			return domain.Invalid("_before", "_before is the paging cursor from a next link: a whole number above 0.")
		}
	}
	f.Limit = n + 1
	evs, err := h.trail.Events(ctx, f)
	if err != nil {
		return err
	}
	more := len(evs) > n
	if more {
		evs = evs[:n]
	}
	var items []entry
	for _, e := range evs {
		items = append(items, entry{e.ID, audit.ToFHIR(e)})
	}
	var total *int
	if f.BeforeSeq == 0 && !more {
		t := len(evs)
		total = &t
	}
	count := strconv.Itoa(n)
	links := []bundleLink{{Relation: "self", URL: h.link(r, "AuditEvent", map[string]string{"_count": count})}}
	if more {
		links = append(links, bundleLink{Relation: "next", URL: h.link(r, "AuditEvent", map[string]string{"_count": count, "_before": strconv.FormatInt(evs[len(evs)-1].Seq, 10)})})
	}
	h.write(w, r, http.StatusOK, h.bundle(r, "AuditEvent", items, total, links))
	return nil
}
