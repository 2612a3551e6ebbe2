package auth

import "testing"

// The stand-in hash for unknown accounts has the parameters of a real one,
// so verifying against it costs the same (a sign-in for an unknown e-mail
// takes as long as one for a real account), and no password matches it.
func TestUnmatchableHashCostsWhatARealOneDoes(t *testing.T) {
	p := Argon2Params{Memory: 8 * 1024, Time: 2, Threads: 1}
	fake, err := unmatchableHash(p)
	if err != nil {
		t.Fatal(err)
	}
	got, salt, key, err := ParsePasswordHash(fake)
	if err != nil || got != p || len(salt) != 16 || len(key) != 32 {
		t.Fatalf("parsed %+v salt %d key %d: %v", got, len(salt), len(key), err)
	}
	real, _ := HashPassword("correct horse battery", p)
	if rp, _, _, _ := ParsePasswordHash(real); rp != got {
		t.Fatalf("a real hash's parameters %+v, the stand-in's %+v", rp, got)
	}
	for _, pw := range []string{"", "correct horse battery", "not-a-real-password"} {
		if VerifyPassword(pw, fake) {
			t.Fatalf("%q matched the stand-in hash", pw)
		}
	}
	other, _ := unmatchableHash(p)
	if other == fake {
		t.Fatal("two stand-in hashes are the same")
	}
}
