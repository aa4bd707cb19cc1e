package attest

import (
	"fmt"
	"path/filepath"
	"runtime"
)

// site is a source position, kept as a program counter until it is needed,
// so that a check that passes never pays for finding its file and line.
type site struct {
	pos string
	pc  uintptr
}

// callerSite returns the site of the caller skip frames above its own
// caller.
func callerSite(skip int) site {
	var pcs [1]uintptr
	runtime.Callers(skip+2, pcs[:])
	return site{pc: pcs[0]}
}

func (s site) String() string {
	if s.pos != "" || s.pc == 0 {
		return s.pos
	}
	fr, _ := runtime.CallersFrames([]uintptr{s.pc}).Next()
	return fmt.Sprintf("%s:%d", filepath.Base(fr.File), fr.Line)
}

// callerPos returns "file.go:42" for the caller skip frames above its own
// caller.
func callerPos(skip int) string {
	_, file, line, ok := runtime.Caller(skip + 1)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s:%d", filepath.Base(file), line)
}
