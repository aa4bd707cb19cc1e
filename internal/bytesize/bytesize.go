// Package bytesize writes and reads sizes in bytes the way clstr shows
// them to people and takes them on its command line: "1 GiB", "4MiB",
// "512KiB", "4MB", "1048576".
package bytesize

import (
	"errors"
	"strconv"
	"strings"
)

// units are the binary units Format writes, largest first.
var units = []struct {
	name string
	size int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}

// Format renders n bytes for a person: exactly in the largest binary unit
// that divides it ("1 GiB", "1536 MiB", "512 KiB"), else to one decimal
// in the largest unit it reaches ("3.8 MiB"), else in bytes ("100
// bytes"). Parse reads back every exact form.
func Format(n int64) string {
	for _, u := range units {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + " " + u.name
		}
	}
	for _, u := range units {
		if n >= u.size {
			return strconv.FormatFloat(float64(n)/float64(u.size), 'f', 1, 64) + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// suffixes are the units Parse reads; "B" last, since the others end in it.
var suffixes = []struct {
	name string
	mult int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
	{"bytes", 1}, {"B", 1},
}

// errSize is Parse's one error: what to write instead.
var errSize = errors.New(`want a positive size such as "512MiB" or "4MB"`)

// Parse reads a positive size in bytes: "1048576", "512KiB", "4MiB",
// "1GiB", the decimal units "4KB", "4MB", "1GB", "100B" or "100 bytes",
// with or without a space before the unit.
func Parse(s string) (int64, error) {
	mult := int64(1)
	num := s
	for _, u := range suffixes {
		if rest, ok := strings.CutSuffix(s, u.name); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || n > (1<<62)/mult {
		return 0, errSize
	}
	return n * mult, nil
}
