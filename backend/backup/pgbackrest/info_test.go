package pgbackrest

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseInfo(t *testing.T) {
	data, err := os.ReadFile("testdata/info.json")
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseInfo(data, "healthhub")
	if err != nil {
		t.Fatal(err)
	}
	if info.Status.Code != 0 || info.Cipher != "aes-256-cbc" || info.PGVersion != "15" || info.BackupRunning {
		t.Fatalf("stanza: got %+v", info)
	}
	if len(info.Backups) != 2 {
		t.Fatalf("backups: got %d, want 2", len(info.Backups))
	}
	full, diff := info.Backups[0], info.Backups[1]
	if full.Label != "20261207-195059F" || full.Type != "full" || full.Prior != "" ||
		!full.Start.Equal(time.Unix(1796673059, 0)) || !full.Stop.Equal(time.Unix(1796673062, 0)) ||
		full.WALStart != "000000010000000000000002" || full.WALStop != "000000010000000000000003" || full.Size <= 0 {
		t.Errorf("full backup: got %+v", full)
	}
	if diff.Type != "diff" || diff.Prior != full.Label {
		t.Errorf("diff backup: got %+v", diff)
	}
	if o, _ := info.Oldest(); o.Label != full.Label {
		t.Errorf("oldest: got %s", o.Label)
	}
	if n, _ := info.Newest(); n.Label != diff.Label {
		t.Errorf("newest: got %s", n.Label)
	}
	if a, ok := info.Archive(); !ok || a.ID != "15-1" || a.Min != "000000010000000000000001" || a.Max != "000000010000000000000008" {
		t.Errorf("archive: got %+v", a)
	}
}

func TestParseInfoRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ json, want string }{
		"not JSON":          {`stanza: healthhub`, "not the expected JSON"},
		"no stanza":         {`[]`, "lists no stanza"},
		"other stanza":      {`[{"name":"other","status":{"code":0}}]`, `has no stanza "healthhub" (it has other)`},
		"no status":         {`[{"name":"healthhub"}]`, "no status code"},
		"bad segment":       {`[{"name":"healthhub","status":{"code":0},"archive":[{"id":"15-1","min":"x","max":"y"}]}]`, "malformed WAL range"},
		"backup no times":   {`[{"name":"healthhub","status":{"code":0},"backup":[{"label":"A","type":"full","timestamp":{}}]}]`, "lacks its label or times"},
		"stop before start": {`[{"name":"healthhub","status":{"code":0},"backup":[{"label":"A","type":"full","timestamp":{"start":5,"stop":4}}]}]`, "impossible times"},
		"unknown type":      {`[{"name":"healthhub","status":{"code":0},"backup":[{"label":"A","type":"snap","archive":{"start":"000000010000000000000002","stop":"000000010000000000000002"},"timestamp":{"start":4,"stop":5}}]}]`, "unknown type"},
		"backup bad WAL":    {`[{"name":"healthhub","status":{"code":0},"backup":[{"label":"A","type":"full","archive":{"start":"0001","stop":""},"timestamp":{"start":4,"stop":5}}]}]`, "malformed WAL range"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseInfo([]byte(tc.json), "healthhub")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestParseInfoNoBackups(t *testing.T) {
	info, err := ParseInfo([]byte(`[{"name":"healthhub","status":{"code":2,"message":"no valid backups"},"archive":[],"backup":[]}]`), "healthhub")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info.Newest(); ok || info.Status.Code != 2 {
		t.Fatalf("got %+v", info)
	}
	if _, ok := info.Archive(); ok {
		t.Fatal("an empty archive reported a range")
	}
}

func FuzzParseInfo(f *testing.F) {
	if data, err := os.ReadFile("testdata/info.json"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`[{"name":"healthhub","status":{"code":2}}]`))
	f.Add([]byte(`[{"name":"healthhub","status":{"code":0},"backup":[{"label":"A","type":"full","archive":{"start":"000000010000000000000002","stop":"000000010000000000000003"},"timestamp":{"start":1,"stop":2}}]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseInfo(data, "healthhub")
		if err != nil {
			return
		}
		for i, b := range info.Backups {
			if b.Label == "" || b.Stop.Before(b.Start) || b.Stop.Year() > 9999 || !IsWALSegment(b.WALStart) || !IsWALSegment(b.WALStop) {
				t.Fatalf("accepted a backup without a label or with impossible times: %+v", b)
			}
			if i > 0 && b.Stop.Before(info.Backups[i-1].Stop) {
				t.Fatal("backups not in order of their stop times")
			}
		}
		for _, a := range info.Archives {
			if a.Max != "" && !IsWALSegment(a.Max) {
				t.Fatalf("accepted a malformed archive range %+v", a)
			}
		}
	})
}

func TestLastTransactionEnd(t *testing.T) {
	out, err := os.ReadFile("testdata/waldump.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, ok := lastTransactionEnd(out)
	want := time.Date(2026, 12, 7, 19, 52, 2, 965199000, time.UTC)
	if !ok || !got.Equal(want) {
		t.Fatalf("got %s %v, want %s", got, ok, want)
	}
	if _, ok := lastTransactionEnd([]byte("rmgr: XLOG len (rec/tot): 24/24, tx: 0, lsn: 0/040160E8, prev 0/040160A8, desc: SWITCH\n")); ok {
		t.Fatal("a segment without a commit reported one")
	}
	abort := "rmgr: Transaction len (rec/tot): 34/34, tx: 9, lsn: 0/1, prev 0/0, desc: ABORT 2026-12-07 20:00:00.5 UTC\n" +
		"rmgr: Transaction len (rec/tot): 34/34, tx: 8, lsn: 0/2, prev 0/1, desc: COMMIT 2026-12-07 19:59:59 UTC\n"
	if got, ok := lastTransactionEnd([]byte(abort)); !ok || !got.Equal(time.Date(2026, 12, 7, 20, 0, 0, 5e8, time.UTC)) {
		t.Fatalf("abort: got %s %v", got, ok)
	}
}

func FuzzLastTransactionEnd(f *testing.F) {
	if data, err := os.ReadFile("testdata/waldump.txt"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("rmgr: Transaction len (rec/tot): 34/34, tx: 9, lsn: 0/1, prev 0/0, desc: COMMIT 2026-12-07 20:00:00.123456 UTC\n"))
	f.Add([]byte("rmgr: Transaction desc: COMMIT 9999-99-99 99:99:99 UTC"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := lastTransactionEnd(data)
		if !ok && !got.IsZero() {
			t.Fatal("a time without a transaction")
		}
		if ok && got.Location() != time.UTC {
			t.Fatal("not UTC")
		}
	})
}

func TestPreviousSegment(t *testing.T) {
	for in, want := range map[string]string{
		"000000010000000000000004": "000000010000000000000003",
		"0000000200000001000000A0": "00000002000000010000009F",
		"000000010000000200000000": "0000000100000001000000FF",
	} {
		got, err := previousSegment(in, 16<<20)
		if err != nil || got != want {
			t.Errorf("previousSegment(%s): got %s %v, want %s", in, got, err, want)
		}
	}
	if _, err := previousSegment("000000010000000000000000", 16<<20); !errors.Is(err, errNoSegment) {
		t.Errorf("first segment: got %v, want errNoSegment", err)
	}
	if _, err := previousSegment("00000001000000000000000g", 16<<20); err == nil {
		t.Error("accepted a malformed name")
	}
}

func TestNewRefuses(t *testing.T) {
	good := Config{Stanza: "healthhub", ConfigFile: "/etc/pgbackrest/healthhub.conf", RepoPath: "/backup/pgbackrest",
		CipherPass: "a passphrase of enough length", PGData: "/var/lib/postgresql/15/main"}
	if _, err := New(good); err != nil {
		t.Fatalf("good configuration: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"no cipher":     func(c *Config) { c.CipherPass = "" },
		"short cipher":  func(c *Config) { c.CipherPass = "short" },
		"bad stanza":    func(c *Config) { c.Stanza = "a b" },
		"relative repo": func(c *Config) { c.RepoPath = "backups" },
		"quoted path":   func(c *Config) { c.PGData = "/var/lib/'x" },
		"long timeout":  func(c *Config) { c.ArchiveTimeout = 2 * time.Hour },
	} {
		c := good
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
