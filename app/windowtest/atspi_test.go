//go:build desktopwindow

package windowtest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/godbus/dbus/v5"
)

// The window is driven as a person using a screen reader or the keyboard
// would: controls are found in the accessibility tree (AT-SPI, which
// WebKitGTK fills from the page's roles and labels), focused there, and
// typed into or pressed with real keystrokes from xdotool.

const (
	a11yAccessible = "org.a11y.atspi.Accessible"
	a11yComponent  = "org.a11y.atspi.Component"
	a11yText       = "org.a11y.atspi.Text"
)

// a11yRef is an object of the accessibility tree: a bus name and a path.
type a11yRef struct {
	Name string
	Path dbus.ObjectPath
}

// a11yNode is a found control with what it was found by.
type a11yNode struct {
	a11yRef
	role, name string
}

// window is the app's window, driven through its accessibility tree.
type window struct {
	t    *testing.T
	bus  *dbus.Conn
	xid  string // the X window, for xdotool
	root a11yRef
}

// openWindow connects to the session's accessibility bus and finds the
// application named HealthHub on it.
func openWindow(t *testing.T, xid string) *window {
	t.Helper()
	session, err := dbus.SessionBusPrivate()
	if err != nil {
		t.Fatalf("session bus: %v", err)
	}
	defer session.Close()
	if err := session.Auth(nil); err != nil {
		t.Fatal(err)
	}
	if err := session.Hello(); err != nil {
		t.Fatal(err)
	}
	var addr string
	if err := session.Object("org.a11y.Bus", "/org/a11y/bus").Call("org.a11y.Bus.GetAddress", 0).Store(&addr); err != nil {
		t.Fatalf("accessibility bus address: %v", err)
	}
	bus, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("accessibility bus %s: %v", addr, err)
	}
	t.Cleanup(func() { bus.Close() })
	w := &window{t: t, bus: bus, xid: xid}
	registry := a11yRef{"org.a11y.atspi.Registry", "/org/a11y/atspi/accessible/root"}
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, app := range w.children(registry) {
			if w.name(app) == "HealthHub" {
				w.root = app
				return w
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no application named HealthHub on the accessibility bus")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *window) call(r a11yRef, method string, args ...any) *dbus.Call {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return w.bus.Object(r.Name, r.Path).CallWithContext(ctx, method, 0, args...)
}

// children asks for each child by index: GTK's bridge answers GetChildren
// with nothing where a child lives in another process (WebKit's page).
func (w *window) children(r a11yRef) []a11yRef {
	v, err := w.bus.Object(r.Name, r.Path).GetProperty(a11yAccessible + ".ChildCount")
	if err != nil {
		return nil // the object went away while the page changed
	}
	count, _ := v.Value().(int32)
	refs := make([]a11yRef, 0, count)
	for i := range count {
		var c a11yRef
		if err := w.call(r, a11yAccessible+".GetChildAtIndex", i).Store(&c); err == nil && c.Path != "/org/a11y/atspi/null" {
			refs = append(refs, c)
		}
	}
	return refs
}

func (w *window) name(r a11yRef) string {
	v, err := w.bus.Object(r.Name, r.Path).GetProperty(a11yAccessible + ".Name")
	if err != nil {
		return ""
	}
	s, _ := v.Value().(string)
	return s
}

// roles names the AT-SPI roles (AtspiRole) the tests look for; WebKit's
// page answers GetRole but not GetRoleName.
var roles = map[uint32]string{
	2: "alert", 7: "check box", 11: "combo box", 16: "dialog", 29: "label", 32: "list item",
	35: "menu item", 40: "password text", 43: "push button", 44: "radio button", 52: "spin button",
	56: "table cell", 61: "text", 73: "paragraph", 79: "entry", 83: "heading", 85: "section",
	88: "link", 90: "table row", 98: "list box", 116: "static",
}

func (w *window) role(r a11yRef) string {
	var role uint32
	if err := w.call(r, a11yAccessible+".GetRole").Store(&role); err != nil {
		return ""
	}
	if name, ok := roles[role]; ok {
		return name
	}
	return fmt.Sprintf("role %d", role)
}

// text is a node's own text (a paragraph's or a cell's), or its name.
func (w *window) text(r a11yRef) string {
	var s string
	if err := w.call(r, a11yText+".GetText", int32(0), int32(-1)).Store(&s); err == nil && strings.TrimSpace(s) != "" {
		return strings.ReplaceAll(s, "\ufffc", "") // embedded objects
	}
	return w.name(r)
}

// all walks the tree and returns the nodes of role whose name matches.
func (w *window) all(role string, name *regexp.Regexp) []a11yNode {
	var found []a11yNode
	queue := []a11yRef{w.root}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		if rr := w.role(r); rr == role {
			if n := w.name(r); name.MatchString(n) {
				found = append(found, a11yNode{r, rr, n})
			}
		}
		queue = append(queue, w.children(r)...)
	}
	return found
}

// find waits for a control of role whose accessible name matches name.
func (w *window) find(role, name string) a11yNode {
	w.t.Helper()
	re := regexp.MustCompile(name)
	deadline := time.Now().Add(90 * time.Second)
	for {
		if found := w.all(role, re); len(found) > 0 {
			return found[0]
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no %s named %q in the window within 90 s; it shows:\n%s", role, name, w.describe())
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// waitText waits until the window shows a text matching re, and returns it.
func (w *window) waitText(text string) string {
	w.t.Helper()
	re := regexp.MustCompile(text)
	var hit string
	if !w.eventually(func() bool { hit = w.anyText(re); return hit != "" }, 90*time.Second) {
		w.t.Fatalf("the window shows no %q within 90 s; it shows:\n%s", text, w.describe())
	}
	return hit
}

// describe lists the named controls of the window, for a failure message.
func (w *window) describe() string {
	var b strings.Builder
	var walk func(r a11yRef, depth int)
	walk = func(r a11yRef, depth int) {
		if depth > 40 {
			return
		}
		if role, name := w.role(r), w.name(r); name != "" || role == "push button" || role == "entry" {
			fmt.Fprintf(&b, "%s%s %q\n", strings.Repeat(" ", depth), role, name)
		}
		for _, c := range w.children(r) {
			walk(c, depth+1)
		}
	}
	walk(w.root, 0)
	return b.String()
}

// focus moves the keyboard focus to a control, as Tab would. A date
// field takes the focus in its first part (month, day or year).
func (w *window) focus(n a11yNode) {
	w.t.Helper()
	run(w.t, "xdotool", "windowfocus", "--sync", w.xid)
	var grab func(r a11yRef, depth int) bool
	grab = func(r a11yRef, depth int) bool {
		var ok bool
		if err := w.call(r, a11yComponent+".GrabFocus").Store(&ok); err == nil && ok {
			return true
		}
		for _, c := range w.children(r) {
			if depth < 4 && grab(c, depth+1) {
				return true
			}
		}
		return false
	}
	if !grab(n.a11yRef, 0) {
		w.t.Fatalf("%s %q takes no focus", n.role, n.name)
	}
}

// fill types text into the field labelled name, and types it again when
// the field does not read back what was typed: on a busy machine the web
// view can drop a keystroke.
func (w *window) fill(role, name, text string) {
	w.t.Helper()
	n := w.find(role, name)
	for try := 1; ; try++ {
		w.focus(n)
		run(w.t, "xdotool", "key", "--clearmodifiers", "ctrl+a", "BackSpace")
		run(w.t, "xdotool", "type", "--delay", fmt.Sprint(10*try), text)
		got := w.fieldText(n)
		if got == text || role == "password text" && utf8.RuneCountInString(got) == utf8.RuneCountInString(text) {
			return
		}
		if try == 5 {
			w.t.Fatalf("%s %q reads %q after typing %q five times", role, name, got, text)
		}
	}
}

// fieldText is what a text field holds (a password field's bullets),
// once the web view has taken the typed keys in.
func (w *window) fieldText(n a11yNode) string {
	var last string
	for range 20 {
		var s string
		if err := w.call(n.a11yRef, a11yText+".GetText", int32(0), int32(-1)).Store(&s); err != nil {
			return ""
		}
		if s == last {
			return s
		}
		last = s
		time.Sleep(100 * time.Millisecond)
	}
	return last
}

// press focuses a button or link and presses Return on it.
func (w *window) press(role, name string) {
	w.t.Helper()
	w.focus(w.find(role, name))
	run(w.t, "xdotool", "key", "Return")
}

// choose picks an option of the list box (a <select>) labelled name with
// the keyboard, as a person does: typing the option's first letters, then
// moving down, until done says the page took the choice.
func (w *window) choose(name, typed string, done func() bool) {
	w.t.Helper()
	n := w.find("combo box", name)
	w.focus(n)
	run(w.t, "xdotool", "type", "--delay", "30", typed)
	for range 40 {
		if w.eventually(done, 3*time.Second) {
			return
		}
		run(w.t, "xdotool", "key", "Down")
	}
	w.t.Fatalf("%s: no option reached by typing %q and moving down", name, typed)
}

// eventually is whether cond holds within d.
func (w *window) eventually(cond func() bool, d time.Duration) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(150 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// comboValue is the option a list box shows: its selected option.
func (w *window) comboValue(name string) string {
	n, ok := w.lookup("combo box", name)
	if !ok {
		return ""
	}
	var value string
	var walk func(r a11yRef, depth int) bool
	walk = func(r a11yRef, depth int) bool {
		for _, c := range w.children(r) {
			if w.selected(c) {
				value = w.name(c)
				return true
			}
			if depth < 3 && walk(c, depth+1) {
				return true
			}
		}
		return false
	}
	walk(n.a11yRef, 0)
	return value
}

// selected is whether a node's state set has SELECTED (AtspiStateType 23).
func (w *window) selected(r a11yRef) bool {
	var states []uint32
	if err := w.call(r, a11yAccessible+".GetState").Store(&states); err != nil || len(states) == 0 {
		return false
	}
	return states[0]&(1<<23) != 0
}

// lookup is find without waiting.
func (w *window) lookup(role, name string) (a11yNode, bool) {
	if found := w.all(role, regexp.MustCompile(name)); len(found) > 0 {
		return found[0], true
	}
	return a11yNode{}, false
}

// waitFor waits for a control of role named name (true), or for a text
// matching other (false), whichever the window shows first.
func (w *window) waitFor(role, name, other string) (a11yNode, bool) {
	w.t.Helper()
	otherRe := regexp.MustCompile(other)
	var n a11yNode
	var found bool
	ok := w.eventually(func() bool {
		if n, found = w.lookup(role, name); found {
			return true
		}
		return w.anyText(otherRe) != ""
	}, 90*time.Second)
	if !ok {
		w.t.Fatalf("neither a %s named %q nor %q in the window within 90 s; it shows:\n%s", role, name, other, w.describe())
	}
	return n, found
}

// anyText is the first text of the page's paragraphs, headings, cells and
// statuses matching re.
func (w *window) anyText(re *regexp.Regexp) string {
	var hit string
	var walk func(r a11yRef, depth int) bool
	walk = func(r a11yRef, depth int) bool {
		if depth > 40 {
			return false
		}
		if s := w.text(r); s != "" && re.MatchString(s) {
			hit = s
			return true
		}
		for _, c := range w.children(r) {
			if walk(c, depth+1) {
				return true
			}
		}
		return false
	}
	walk(w.root, 0)
	return hit
}

// fillDate types a date into a date field, part by part: WebKit shows
// it as month, day and year fields (spin buttons) in the locale's order.
func (w *window) fillDate(name string, d time.Time) {
	w.t.Helper()
	n := w.find("entry", name)
	parts := map[string]string{"month": d.Format("01"), "day": d.Format("02"), "year": d.Format("2006")}
	for try := 1; ; try++ {
		var spins []a11yNode
		var walk func(r a11yRef, depth int)
		walk = func(r a11yRef, depth int) {
			if w.role(r) == "spin button" {
				spins = append(spins, a11yNode{r, "spin button", w.name(r)})
			}
			for _, c := range w.children(r) {
				if depth < 4 {
					walk(c, depth+1)
				}
			}
		}
		walk(n.a11yRef, 0)
		if len(spins) != 3 {
			w.t.Fatalf("date field %q has parts %v", name, spins)
		}
		for _, s := range spins {
			w.focus(s)
			run(w.t, "xdotool", "type", "--delay", fmt.Sprint(20*try), parts[s.name])
		}
		ok := true
		for _, s := range spins {
			if got := w.fieldText(s); strings.TrimLeft(got, "0") != strings.TrimLeft(parts[s.name], "0") {
				ok = false
			}
		}
		if ok {
			return
		}
		if try == 5 {
			w.t.Fatalf("date field %q does not read %s after typing it five times", name, d.Format("2006-01-02"))
		}
	}
}
