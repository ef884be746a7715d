// The rig node's stand-in for kube-proxy's rule for the `kubernetes` Service
// (test/rig/node-network.ts): a TCP relay from the Service's ClusterIP to the API server on
// loopback. TLS passes through untouched, so Pods verify the API server's certificate (SAN
// IP:10.0.0.1) against their ServiceAccount's ca.crt. Only Pod addresses are served: the
// ClusterIP is a host address, and nothing but the Pods may come in this way. Go, not Node:
// a few MiB resident instead of a JavaScript runtime's 60.
//
//	api-relay LISTEN_IP:PORT TARGET_IP:PORT POD_SUBNET NODE_DIR
//
// NODE_DIR only marks the process as the node's (teardown kills what names it).
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: api-relay LISTEN_IP:PORT TARGET_IP:PORT POD_SUBNET NODE_DIR")
		os.Exit(2)
	}
	listen, target := os.Args[1], os.Args[2]
	_, pods, err := net.ParseCIDR(os.Args[3])
	if err != nil {
		fmt.Fprintf(os.Stderr, "api-relay: POD_SUBNET: %v\n", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp4", listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "api-relay: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("relaying %s -> %s for %s\n", listen, target, pods)
	var served, refused atomic.Int64
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		fmt.Printf("served %d connections, refused %d\n", served.Load(), refused.Load())
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "api-relay: accept: %v\n", err)
			continue
		}
		if a, ok := c.RemoteAddr().(*net.TCPAddr); !ok || !pods.Contains(a.IP) {
			refused.Add(1)
			c.Close()
			continue
		}
		served.Add(1)
		go relay(c.(*net.TCPConn), target)
	}
}

func relay(client *net.TCPConn, target string) {
	defer client.Close()
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	upstream := up.(*net.TCPConn)
	defer upstream.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src *net.TCPConn) {
		_, _ = io.Copy(dst, src)
		_ = dst.CloseWrite()
		done <- struct{}{}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	<-done
	<-done
}
