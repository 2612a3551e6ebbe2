package fhir

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/healthhub/healthhub/backend/domain"
)

// operationOutcome is how every error is answered.
type operationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []issue `json:"issue"`
}

type issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// outcomeError is an error with an HTTP status and FHIR issue type of its
// own, for the few answers that are not one of the domain error codes
// (405, 406, 415).
type outcomeError struct {
	status int
	code   string
	msg    string
}

func (e *outcomeError) Error() string { return e.msg }

// statusOf maps domain error codes to an HTTP status and a FHIR issue type
// (http://hl7.org/fhir/R4/valueset-issue-type.html).
func statusOf(code string) (int, string) {
	switch code {
	case domain.EINVALID:
		return http.StatusBadRequest, "invalid"
	case domain.EUNAUTHORIZED:
		return http.StatusUnauthorized, "security"
	case domain.EFORBIDDEN:
		return http.StatusForbidden, "forbidden"
	case domain.ENOTFOUND:
		return http.StatusNotFound, "not-found"
	case domain.ECONFLICT:
		return http.StatusConflict, "conflict"
	case domain.ETOOLARGE:
		return http.StatusRequestEntityTooLarge, "too-long"
	case domain.ERATELIMITED:
		return http.StatusTooManyRequests, "throttled"
	case domain.EUNAVAILABLE:
		return http.StatusServiceUnavailable, "transient"
	}
	return http.StatusInternalServerError, "exception"
}

// WriteError answers err as an OperationOutcome with the matching status,
// and logs it: client errors at info level, server errors at error level
// with the cause. Only caller-safe messages are sent. Route wiring may use it
// for answers it gives on FHIR paths itself (401 before a handler, 404, 405).
func (h *Handlers) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	var code, msg string
	var oe *outcomeError
	var de *domain.Error
	if errors.As(err, &oe) {
		status, code, msg = oe.status, oe.code, oe.msg
	} else {
		status, code = statusOf(domain.ErrorCode(err))
		msg = domain.ErrorMessage(err)
		if errors.As(err, &de) && de.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(de.RetryAfter))
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="healthhub"`)
	}
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "5")
	}
	meta := domain.RequestMetaFrom(r.Context())
	attrs := []any{"status", status, "code", code, "method", r.Method, "route", routeOf(r), "request_id", meta.RequestID}
	if status >= 500 {
		h.logger.Error("fhir request failed", append(attrs, "err", err)...)
	} else {
		h.logger.Info("fhir request refused", append(attrs, "reason", msg)...)
	}
	out := operationOutcome{ResourceType: "OperationOutcome", Issue: []issue{{Severity: "error", Code: code, Diagnostics: msg}}}
	if de != nil && de.Field != "" && de.Code == domain.EINVALID {
		if expr := fhirPathOf(de.Field); expr != "" {
			out.Issue[0].Expression = []string{expr}
		}
	}
	h.write(w, r, status, out)
}

// WriteErrorStatus is WriteError with a status err's code does not imply:
// route wiring answers 405 on FHIR paths with it.
func (h *Handlers) WriteErrorStatus(w http.ResponseWriter, r *http.Request, status int, err error) {
	_, code := statusOf(domain.ErrorCode(err))
	if status == http.StatusMethodNotAllowed {
		code = "not-supported"
	}
	h.WriteError(w, r, &outcomeError{status: status, code: code, msg: domain.ErrorMessage(err)})
}

// ignoredOutcome tells a lenient search which of its parameters were left
// out; the Bundle carries it as an entry of search mode "outcome".
func ignoredOutcome(resource string, names []string) operationOutcome {
	out := operationOutcome{ResourceType: "OperationOutcome"}
	supported := strings.Join(declaredParams(resource), ", ")
	for i, name := range names {
		if i == maxIgnoredIssues {
			out.Issue = append(out.Issue, issue{Severity: "warning", Code: "not-supported",
				Diagnostics: fmt.Sprintf("%d more unsupported parameters were ignored too.", len(names)-i)})
			break
		}
		out.Issue = append(out.Issue, issue{Severity: "warning", Code: "not-supported",
			Diagnostics: fmt.Sprintf("The parameter %q is not supported for %s searches and was ignored (Prefer: handling=lenient); supported: %s.", clip(name, 40), resource, supported)})
	}
	return out
}

// maxIgnoredIssues bounds the issues of an ignoredOutcome, whatever the
// length of the query string.
const maxIgnoredIssues = 20

// fhirPathOf names the element an invalid-input error is about, when the
// field is one of ours (request body elements are given as FHIRPath).
func fhirPathOf(field string) string {
	if strings.HasPrefix(field, "Appointment.") {
		return field
	}
	return ""
}

func routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return "unmatched"
}
