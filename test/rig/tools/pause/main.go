// The rig's pod sandbox ("pause") process: PID 1 of every Pod, holding its namespaces. It waits
// for SIGINT/SIGTERM (then exits 0) and reaps orphaned children, like Kubernetes' own pause.c.
// Built statically from source because no registry outside this machine is reachable.
//
// The same binary is the rig's runnable test image (app-image.ts): given arguments, it first
// prints them as one line to stdout, so a test can read the container's log.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	if len(os.Args) > 1 {
		fmt.Println(strings.Join(os.Args[1:], " "))
	}
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
