package suggest

import "testing"

func TestClosest(t *testing.T) {
	choices := []string{"run", "clean", "doctor", "list", "init", "test", "next", "status", "logs", "check", "fmt", "completion"}
	for word, want := range map[string]string{
		"rnu": "run", "tset": "test", "stauts": "status", "complet": "completion", "docter": "doctor",
		"lgos": "logs", "chek": "check", "deploy": "", "x": "", "": "",
	} {
		got, ok := Closest(word, choices)
		if got != want || ok != (want != "") {
			t.Errorf("Closest(%q) = %q, %v; want %q", word, got, ok, want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"run", "run", 0}, {"", "abc", 3}, {"rnu", "run", 1}, {"kitten", "sitting", 3}, {"héllo", "hello", 1},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d; want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
