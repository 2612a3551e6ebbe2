package sqlite

import "testing"

func TestRankByTerms(t *testing.T) {
	cands := []scoredText{
		{1, "Parking", "There is free parking behind the clinic."},
		{2, "Clinic hours", "The clinic opens at eight; the clinic closes at six."},
		{3, "Tests", "Blood testing happens in the clinic on Mondays; tests need fasting."},
		{4, "Unrelated", "Nothing here at all."},
	}
	got := rankByTerms(cands, []string{"clinic", "test"}, 3)
	if len(got) != 3 || got[0].id != 3 || got[1].id != 2 || got[2].id != 1 {
		t.Fatalf("ranking = %+v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i].score > got[i-1].score || got[i].score <= 0 {
			t.Fatalf("scores out of order: %+v", got)
		}
	}
	// "testimonial" is not "test" plus a suffix of at most three letters.
	if r := rankByTerms([]scoredText{{9, "", "testimonial"}}, []string{"test"}, 1); r[0].score != 0 {
		t.Fatalf("testimonial matched test: %+v", r)
	}
	if rankByTerms(nil, []string{"x"}, 5) != nil {
		t.Fatal("no candidates should rank nothing")
	}
}

func TestHighlight(t *testing.T) {
	got := highlight("Book early. Tests at the clinic need fasting; testing starts at eight.", []string{"test", "clinic"})
	want := "Book early. [[Tests]] at the [[clinic]] need fasting; [[testing]] starts at eight."
	if got != want {
		t.Fatalf("highlight = %q, want %q", got, want)
	}
	long := "a b c d e f g h i j k l m n o p q r s t u v w x y z target aa bb cc dd ee ff gg hh ii jj kk ll mm nn oo pp qq rr ss tt"
	got = highlight(long, []string{"target"})
	if got != "… u v w x y z [[target]] aa bb cc dd ee ff gg hh ii jj kk ll mm nn oo pp qq …" {
		t.Fatalf("cut highlight = %q", got)
	}
}
