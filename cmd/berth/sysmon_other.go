//go:build !unix

package main

func keepSysmonAwake([]string) {}
