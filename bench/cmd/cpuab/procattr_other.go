//go:build !linux

package main

import (
	"errors"
	"os/exec"
)

func dieWithParent(*exec.Cmd) {}

func pinSelf(int) error { return errors.New("-pin needs Linux") }
