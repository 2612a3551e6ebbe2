package migrate

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadOrdersAndRejectsGaps(t *testing.T) {
	ok := fstest.MapFS{
		"m/0002_b.sql": {Data: []byte("B")},
		"m/0001_a.sql": {Data: []byte("A")},
		"m/README":     {Data: []byte("ignored")},
	}
	ms, err := Load(ok, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].SQL != "A" || ms[1].Version != 2 {
		t.Fatalf("got %+v", ms)
	}
	gap := fstest.MapFS{"m/0001_a.sql": {}, "m/0003_c.sql": {}}
	if _, err := Load(gap, "m"); err == nil || !strings.Contains(err.Error(), "expected version 2") {
		t.Fatalf("gap not refused: %v", err)
	}
	bad := fstest.MapFS{"m/x_a.sql": {}}
	if _, err := Load(bad, "m"); err == nil {
		t.Fatal("bad name accepted")
	}
}

func TestPendingRefusesNewerSchema(t *testing.T) {
	all := []Migration{{Version: 1}, {Version: 2}}
	p, err := Pending(all, 1)
	if err != nil || len(p) != 1 || p[0].Version != 2 {
		t.Fatalf("pending = %v, %v", p, err)
	}
	_, err = Pending(all, 3)
	var tooNew *ErrSchemaTooNew
	if !errors.As(err, &tooNew) || tooNew.Database != 3 || tooNew.Binary != 2 {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("message does not name the version: %v", err)
	}
}
