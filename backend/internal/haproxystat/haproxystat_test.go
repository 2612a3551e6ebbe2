package haproxystat

import "testing"

func TestParse(t *testing.T) {
	raw := []byte("# pxname,svname,qcur,status,weight\n" +
		"web,FRONTEND,,OPEN,\n" +
		"replicas,r1,0,UP,1\n" +
		"replicas,r2,0,DOWN,1\n" +
		"replicas,r3,0,UP 1/2,1\n" +
		"replicas,BACKEND,0,UP,2\n" +
		"other,o1,0,UP,1\n")
	got, err := Parse(raw, "replicas")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"r1": "UP", "r2": "DOWN", "r3": "UP 1/2"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	for _, bad := range []string{"", "no header\n", "# pxname,status\nx,UP\n"} {
		if _, err := Parse([]byte(bad), "replicas"); err == nil {
			t.Fatalf("Parse(%q) took it", bad)
		}
	}
}
