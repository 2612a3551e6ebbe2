package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/healthhub/healthhub/backend/domain"
)

// errorBody is the one error shape of the API.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// statusOf maps error codes to HTTP statuses, in one place.
func statusOf(code string) int {
	switch code {
	case domain.EINVALID:
		return http.StatusBadRequest
	case domain.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case domain.EFORBIDDEN:
		return http.StatusForbidden
	case domain.ENOTFOUND:
		return http.StatusNotFound
	case domain.ECONFLICT:
		return http.StatusConflict
	case domain.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case domain.EGONE:
		return http.StatusGone
	case domain.ERATELIMITED:
		return http.StatusTooManyRequests
	case domain.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// writeJSON writes v with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		json.NewEncoder(w).Encode(v)
	}
}

// writeError writes err in the API's error shape and logs it: client errors
// at info level with their code, server errors at error level with the cause.
// Messages are the caller-safe ones; causes stay in the log.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := domain.ErrorCode(err)
	status := statusOf(code)
	var de *domain.Error
	errors.As(err, &de)
	meta := domain.RequestMetaFrom(r.Context())
	body := errorBody{Error: errorDetail{Code: code, Message: domain.ErrorMessage(err), RequestID: meta.RequestID}}
	if de != nil {
		body.Error.Field = de.Field
		if de.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(de.RetryAfter))
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="healthhub"`)
	}
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "5")
	}
	attrs := []any{"status", status, "code", code, "method", r.Method, "route", routeOf(r), "request_id", meta.RequestID}
	switch {
	case status >= 500:
		logger.Error("request failed", append(attrs, "err", err)...)
	default:
		logger.Info("request refused", append(attrs, "reason", body.Error.Message)...)
	}
	writeJSON(w, status, body)
}

func routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return "unmatched"
}

// maxBody is the default limit for JSON request bodies.
const maxBody = 1 << 20

// decode reads exactly one JSON object into v: the content type must be JSON,
// the body no larger than maxBody, unknown fields are refused, and every
// problem becomes an error that says what to fix.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if err := jsonContentType(r); err != nil {
		return err
	}
	body := http.MaxBytesReader(w, r.Body, maxBody)
	return decodeJSON(body, v)
}

// jsonContentType refuses a body declared as anything but JSON.
func jsonContentType(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return domain.Invalid("", "Send the request body as JSON with Content-Type: application/json.")
		}
	}
	return nil
}

// decodeJSON is decode without the HTTP parts; the fuzz target drives it.
func decodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(err)
	}
	if dec.More() {
		return domain.Invalid("", "The request body must hold exactly one JSON object.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return domain.Invalid("", "The request body has data after the JSON object.")
	}
	return nil
}

func describeJSONError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return domain.Invalid("", "The request body is empty; send a JSON object.")
	case errors.As(err, &tooBig):
		return &domain.Error{Code: domain.ETOOLARGE, Message: fmt.Sprintf("The request body is larger than the %d KiB allowed.", tooBig.Limit/1024)}
	case errors.As(err, &syntax):
		return domain.Invalid("", "The request body is not valid JSON (error at byte %d).", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return domain.Invalid("", "The request body is not valid JSON: it ends too early.")
	case errors.As(err, &typ):
		if typ.Field != "" {
			return domain.Invalid(typ.Field, "Field %q must be %s, not %s.", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return domain.Invalid("", "The request body must be a JSON object, not %s.", typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return domain.Invalid(name, "Unknown field %q; check the field names against /api/openapi.json.", name)
	}
	return domain.Invalid("", "The request body could not be read as JSON.")
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "a list"
	case "struct", "map":
		return "an object"
	}
	if strings.Contains(k, "int") || strings.Contains(k, "float") {
		return "a number"
	}
	return "a " + k
}

// writeErrorStatus writes err with a status other than its code's (405).
func writeErrorStatus(w http.ResponseWriter, r *http.Request, logger *slog.Logger, status int, err *domain.Error) {
	meta := domain.RequestMetaFrom(r.Context())
	logger.Info("request refused", "status", status, "code", err.Code, "method", r.Method, "route", routeOf(r), "request_id", meta.RequestID)
	writeJSON(w, status, errorBody{Error: errorDetail{Code: err.Code, Message: err.Message, RequestID: meta.RequestID}})
}
