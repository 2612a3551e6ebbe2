package shell

import "unicode/utf8"

// Notification is an OS notification: an appointment reminder, a finished
// knowledge import.
type Notification struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

// clean bounds what reaches the OS: valid UTF-8, no control characters,
// a title and body of a notification's size.
func (n Notification) clean() Notification {
	return Notification{Title: bound(n.Title, 120), Body: bound(n.Body, 400)}
}

func bound(s string, max int) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == utf8.RuneError || (r < 0x20 && r != '\n') || r == 0x7f {
			continue
		}
		out = append(out, r)
		if len(out) == max {
			out = append(out[:max-1], '…')
			break
		}
	}
	return string(out)
}
