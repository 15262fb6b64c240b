package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// snapshot is how long each thread of a process has run so far, by thread
// id, from /proc/<pid>/task/<tid>/schedstat; or, where that file is
// missing, the process's user + system time from /proc/<pid>/stat under
// the key -1.
type snapshot map[int]time.Duration

// source names where the CPU times come from: "schedstat" (nanoseconds) or
// "stat" (clock ticks of 10 ms), as the first read found them.
var source string

// readCPU reads pid's CPU time. The first field of a thread's schedstat is
// the scheduler's sum_exec_runtime: all the time the thread ran on a CPU,
// in user space and in the kernel alike (system calls, and the loopback
// softirq work the kernel does in the thread's context when, as here,
// CONFIG_IRQ_TIME_ACCOUNTING is off), in nanoseconds. /proc/<pid>/stat's
// utime + stime is the same total split by tick sampling, in ticks.
func readCPU(pid int) (snapshot, error) {
	if source != "stat" {
		s, err := readSchedstat(pid)
		if err == nil {
			source = "schedstat"
			return s, nil
		}
		if source == "schedstat" {
			return nil, err
		}
	}
	s, err := readStat(pid)
	if err == nil {
		source = "stat"
	}
	return s, err
}

func readSchedstat(pid int) (snapshot, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	s := snapshot{}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited since ReadDir
		}
		if err != nil {
			return nil, err
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return nil, fmt.Errorf("empty schedstat of task %d", tid)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("schedstat of task %d: %w", tid, err)
		}
		s[tid] = time.Duration(ns)
	}
	if len(s) == 0 {
		return nil, fmt.Errorf("no schedstat under %s", dir)
	}
	return s, nil
}

// userHZ is the unit of /proc/<pid>/stat's times (USER_HZ, 100 on every
// Linux architecture Go supports).
const userHZ = 100

func readStat(pid int) (snapshot, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// The command name, in parentheses, may hold spaces: count the fields
	// from the last ')'. utime and stime are the 14th and 15th fields.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return nil, fmt.Errorf("short /proc/%d/stat", pid)
	}
	var ticks int64
	for _, x := range f[11:13] {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return snapshot{-1: time.Duration(ticks) * time.Second / userHZ}, nil
}

// since returns the CPU time run from before to s: every thread of s
// counted from its time in before (0 for a thread started since). lost
// is true when a thread of before has exited; what it ran since before is
// then missing from d.
func (s snapshot) since(before snapshot) (d time.Duration, lost bool) {
	for tid, t := range s {
		d += t - before[tid]
	}
	for tid := range before {
		if _, ok := s[tid]; !ok {
			lost = true
		}
	}
	return d, lost
}

// loadavg returns the first three fields of /proc/loadavg, or "?".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
