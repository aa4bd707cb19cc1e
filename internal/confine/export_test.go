package confine

// UseWatchdog makes a child bound its memory with the watchdog of systems
// whose kernel enforces no limit (macOS), so that it is tested here too.
func UseWatchdog() { confineMemory = watchSelf }
