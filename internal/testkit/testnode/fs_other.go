//go:build !linux

package main

import "os"

const osSync = os.O_SYNC

func fdatasync(f *os.File) error { return f.Sync() }

func tryMount() string { return "mount is not supported on this system" }
