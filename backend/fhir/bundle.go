package fhir

import (
	"context"
	"net/http"
	"strconv"

	"github.com/google/uuid"
)

// bundle is a searchset Bundle.
type bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []bundleLink  `json:"link,omitempty"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string      `json:"fullUrl"`
	Resource any         `json:"resource"`
	Search   entrySearch `json:"search"`
}

type entrySearch struct {
	Mode string `json:"mode"`
}

// entry is one match: its id and the resource.
type entry struct {
	id  string
	res any
}

// link is the URL of this search with some parameters changed (an empty
// value removes the parameter).
func (h *Handlers) link(r *http.Request, resource string, set map[string]string) string {
	q := r.URL.Query()
	for k, v := range set {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	u := h.base(r) + "/" + resource
	if enc := q.Encode(); enc != "" {
		u += "?" + enc
	}
	return u
}

// searchset makes the Bundle of one page of matches, paged by _count and
// _offset. total is nil when it is not known; more says whether a next page
// exists. A count-only search has the total alone: no matches and no paging
// links.
func (h *Handlers) searchset(r *http.Request, resource string, items []entry, total *int, pg page, more bool) bundle {
	if pg.countOnly() {
		return h.bundle(r, resource, nil, total, []bundleLink{{Relation: "self", URL: h.link(r, resource, map[string]string{"_offset": ""})}})
	}
	offset := func(n int) string {
		if n <= 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	count := strconv.Itoa(pg.count)
	links := []bundleLink{{Relation: "self", URL: h.link(r, resource, map[string]string{"_count": count, "_offset": offset(pg.offset)})}}
	if more {
		links = append(links, bundleLink{Relation: "next", URL: h.link(r, resource, map[string]string{"_count": count, "_offset": offset(pg.offset + pg.count)})})
	}
	if pg.offset > 0 {
		links = append(links, bundleLink{Relation: "previous", URL: h.link(r, resource, map[string]string{"_count": count, "_offset": offset(pg.offset - pg.count)})})
	}
	return h.bundle(r, resource, items, total, links)
}

// bundle makes a searchset Bundle. The parameters a lenient search left out
// are named in an OperationOutcome entry, which has no id of its own and is
// not counted in the total.
func (h *Handlers) bundle(r *http.Request, resource string, items []entry, total *int, links []bundleLink) bundle {
	b := bundle{ResourceType: "Bundle", Type: "searchset", Total: total, Link: links}
	base := h.base(r)
	for _, e := range items {
		b.Entry = append(b.Entry, bundleEntry{FullURL: base + "/" + resource + "/" + e.id, Resource: e.res, Search: entrySearch{Mode: "match"}})
	}
	if ignored := ignoredParams(r.Context()); len(ignored) > 0 {
		b.Entry = append(b.Entry, bundleEntry{FullURL: "urn:uuid:" + uuid.NewString(), Resource: ignoredOutcome(resource, ignored), Search: entrySearch{Mode: "outcome"}})
	}
	return b
}

// window returns the page of a list held in memory, with its total.
func window[T any](all []T, pg page) ([]T, *int, bool) {
	total := len(all)
	if pg.offset >= total {
		return nil, &total, false
	}
	end := min(pg.offset+pg.count, total)
	return all[pg.offset:end], &total, end < total
}

// countBatch is how many rows a count reads at a time.
const countBatch = 1000

// count counts the rows fetch returns for a filter by reading them a batch at
// a time: the stores have no count query.
func count(ctx context.Context, fetch func(ctx context.Context, limit, offset int) (int, error)) (int, error) {
	n := 0
	for {
		got, err := fetch(ctx, countBatch, n)
		if err != nil {
			return 0, err
		}
		n += got
		if got < countBatch {
			return n, nil
		}
	}
}
