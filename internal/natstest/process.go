package natstest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// processEnv makes a test binary a nats-server (ServeProcess): the
// variable names its store directory.
const processEnv = "THREADLINE_NATSTEST_PROCESS"

// StartProcess runs one nats-server with Start's options (file storage in
// t.TempDir(), `sync_interval: always`, a random port on 127.0.0.1) in a
// process of its own, the way a deployment runs it, and returns its client
// URL. The process is the test binary started again, which the package's
// TestMain must hand to ServeProcess first thing. It stops when t ends.
func StartProcess(t testing.TB) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), processEnv+"="+t.TempDir())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe() // the server stops when it closes
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("natstest: start the server's process: %v", err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	url, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("natstest: the server's process did not say its URL: %v", err)
	}
	return strings.TrimSpace(url)
}

// ServeProcess, when the test binary was started by StartProcess, runs its
// nats-server, prints the client URL, serves until stdin closes and
// returns true (TestMain then exits). Otherwise it returns false at once.
func ServeProcess() bool {
	dir := os.Getenv(processEnv)
	if dir == "" {
		return false
	}
	s := &Server{opts: baseOptions("natstest", dir)}
	if err := s.start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(s.URL())
	io.Copy(io.Discard, os.Stdin)
	s.Shutdown()
	return true
}
