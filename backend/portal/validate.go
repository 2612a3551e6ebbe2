package portal

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/healthhub/healthhub/backend/domain"
)

// text checks a free-text field: valid UTF-8, no control characters except
// newlines where allowed, at most max characters. It returns the trimmed text.
func text(field, v string, max int, required, multiline bool) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		if required {
			return "", domain.Invalid(field, "%s is required.", label(field))
		}
		return "", nil
	}
	if !utf8.ValidString(v) {
		return "", domain.Invalid(field, "%s contains characters that are not valid text.", label(field))
	}
	if utf8.RuneCountInString(v) > max {
		return "", domain.Invalid(field, "%s may be at most %d characters.", label(field), max)
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r')) {
			return "", domain.Invalid(field, "%s may not contain control characters.", label(field))
		}
	}
	return v, nil
}

func label(field string) string {
	s := strings.ReplaceAll(field, "_", " ")
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return "This field"
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// civilDate checks a YYYY-MM-DD date.
func civilDate(field, v string, required bool) (time.Time, error) {
	if v == "" {
		if required {
			return time.Time{}, domain.Invalid(field, "%s is required (YYYY-MM-DD).", label(field))
		}
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, domain.Invalid(field, "%s must be a date written YYYY-MM-DD, such as 1984-03-21.", label(field))
	}
	return t, nil
}

func birthDate(v string, now time.Time) error {
	t, err := civilDate("date_of_birth", v, true)
	if err != nil {
		return err
	}
	if t.After(now) || t.Year() < 1880 {
		return domain.Invalid("date_of_birth", "The date of birth must be in the past and after 1880.")
	}
	return nil
}

var sexes = map[string]bool{"": true, "male": true, "female": true, "other": true, "unknown": true}

func phone(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	digits := 0
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune("+-() ./", r):
		default:
			return "", domain.Invalid(field, "A phone number may contain digits, spaces and + - ( ) . / only.")
		}
	}
	if digits < 4 || len(v) > 32 {
		return "", domain.Invalid(field, "Enter a phone number of 4 to 32 characters.")
	}
	return v, nil
}

// clock parses HH:MM.
func clock(field, v string) (int, error) {
	t, err := time.Parse("15:04", v)
	if err != nil || len(v) != 5 {
		return 0, domain.Invalid(field, "%s must be a time of day written HH:MM (24-hour), such as 09:30.", label(field))
	}
	return t.Hour()*60 + t.Minute(), nil
}

func fieldAt(prefix string, i int, name string) string {
	return fmt.Sprintf("%s[%d].%s", prefix, i, name)
}
