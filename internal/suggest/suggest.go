// Package suggest finds what a user most likely meant by a word clstr
// does not know: a command, a flag, a stage, a builtin, an attribute.
package suggest

import "strings"

// Closest returns the choice nearest to word by edit distance, if it is
// within what a typo makes of a word that long: one edit up to four
// letters, two up to nine, a third of the word beyond. A word that begins
// exactly one choice counts too.
func Closest(word string, choices []string) (string, bool) {
	best, bestDist := "", -1
	prefixOf := ""
	prefixes := 0
	for _, c := range choices {
		if c == word {
			return c, true
		}
		if word != "" && strings.HasPrefix(c, word) {
			prefixOf = c
			prefixes++
		}
		if d := Distance(word, c); bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	n := len([]rune(word))
	limit := max(1, n/3)
	switch {
	case n <= 4:
		limit = 1
	case n <= 9:
		limit = 2
	}
	if bestDist >= 0 && bestDist <= limit && bestDist < n {
		return best, true
	}
	if prefixes == 1 {
		return prefixOf, true
	}
	return "", false
}

// Distance is the Damerau–Levenshtein distance (optimal string
// alignment) between a and b: inserts, deletes, changes and swaps of two
// neighbouring letters, the usual typos.
func Distance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}
