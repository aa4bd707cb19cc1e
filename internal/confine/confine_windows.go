package confine

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// envStderr names the environment variable that carries the handle of
// the parent's standard error to the child.
const envStderr = "CLSTR_CONFINED_STDERR"

// childAttr returns the child's attributes; passStderr adds the handle it
// inherits.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }

// passStderr lets the child inherit f and tells it which handle it is.
// The handle must be inheritable; only the handles listed are inherited.
func passStderr(cmd *exec.Cmd, f *os.File) error {
	h := syscall.Handle(f.Fd())
	if err := windows.SetHandleInformation(windows.Handle(h), windows.HANDLE_FLAG_INHERIT, windows.HANDLE_FLAG_INHERIT); err != nil {
		return fmt.Errorf("pass standard error to the script's process: %w", err)
	}
	cmd.SysProcAttr.AdditionalInheritedHandles = append(cmd.SysProcAttr.AdditionalInheritedHandles, h)
	cmd.Env = append(cmd.Env, envStderr+"="+strconv.FormatUint(uint64(h), 10))
	return nil
}

// childStderr returns the parent's standard error, whose handle the
// parent passed in the environment.
func childStderr() *os.File {
	v := os.Getenv(envStderr)
	os.Unsetenv(envStderr)
	h, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return os.Stderr
	}
	return os.NewFile(uintptr(h), "stderr")
}

// limitMemory waits until the parent has put this process in its job
// object, whose limit on committed memory Windows enforces: a script runs
// only once it is bounded.
func limitMemory(budget int64) error {
	for deadline := time.Now().Add(5 * time.Second); ; {
		info, err := jobLimits(0)
		if err == nil && info.BasicLimitInformation.LimitFlags&windows.JOB_OBJECT_LIMIT_PROCESS_MEMORY != 0 &&
			int64(info.ProcessMemoryLimit) <= budget {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the process was not put in its memory-limited job object")
		}
		time.Sleep(time.Millisecond)
	}
}

// jobLimits returns the limits of job, or with 0 those of the job this
// process belongs to directly.
func jobLimits(job windows.Handle) (windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION, error) {
	var info windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	err := windows.QueryInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), nil)
	return info, err
}

// jobWatch holds the job object the child runs in.
type jobWatch struct{ job windows.Handle }

// watch puts the started child in a new job object that limits the memory
// it may commit to budget and kills it when the parent's handle closes,
// that is when the parent dies.
func watch(p *os.Process, budget int64) (watcher, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("create a job object: %w", err)
	}
	var info windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION
	info.BasicLimitInformation.LimitFlags = windows.JOB_OBJECT_LIMIT_PROCESS_MEMORY | windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	info.ProcessMemoryLimit = uintptr(budget)
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return nil, fmt.Errorf("limit the job object's memory: %w", err)
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE|windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(p.Pid))
	if err != nil {
		windows.CloseHandle(job)
		return nil, fmt.Errorf("open the script's process: %w", err)
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		windows.CloseHandle(job)
		return nil, fmt.Errorf("put the script's process in its job object: %w", err)
	}
	return jobWatch{job}, nil
}

// peak returns, once done is closed, the most memory the child
// committed, as the job counted it.
func (w jobWatch) peak(done <-chan struct{}) int64 {
	<-done
	info, err := jobLimits(w.job)
	if err != nil {
		return 0
	}
	return int64(info.PeakProcessMemoryUsed)
}

func (w jobWatch) close() { windows.CloseHandle(w.job) }
