package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/relay"
)

// migrate is `relay migrate`: it moves every workspace of the config from
// the embedded log in --data to JetStream (eventlog.Migrate), epochs, seqs,
// answers, visitor tokens and webhook cursors included. The relay must be
// stopped; running it again after a move that completed does nothing.
func migrate(args []string) error {
	fs := flag.NewFlagSet("relay migrate", flag.ContinueOnError)
	data := fs.String("data", "relay-data", "the stopped relay's --data directory")
	config := fs.String("config", "", "workspaces config file (JSON); none: the demo workspace kept in --data")
	natsURLs := fs.String("nats", "", "NATS servers to move the log to (nats:// or tls:// URLs, comma-separated)")
	natsCreds := fs.String("nats-creds", os.Getenv("THREADLINE_NATS_CREDS"), "NATS credentials file (default $THREADLINE_NATS_CREDS)")
	natsReplicas := fs.Int("nats-replicas", 3, "replicas of each workspace's stream, as the relays will run with")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *natsURLs == "" {
		return errors.New("--nats names the servers to move the log to")
	}
	lg := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var cfg *relay.Config
	var err error
	if *config != "" {
		cfg, err = relay.LoadConfig(*config)
	} else {
		cfg, err = demoConfig(*data)
	}
	if err != nil {
		return err
	}
	dir := filepath.Join(*data, "log")
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("no embedded log at %s: %w", dir, err)
	}
	from, err := eventlog.OpenBadger(dir, lg)
	if err != nil {
		return fmt.Errorf("open the embedded log (is the relay still running?): %w", err)
	}
	defer from.Close()
	to, err := eventlog.Connect(eventlog.JetStreamOptions{URLs: *natsURLs, Creds: *natsCreds, Replicas: *natsReplicas, Logger: lg, Name: "threadline-relay migrate"})
	if err != nil {
		return fmt.Errorf("--nats: %w", err)
	}
	defer to.Close()
	for _, w := range cfg.Workspaces {
		var hooks []string
		for _, h := range w.Webhooks {
			hooks = append(hooks, h.EndpointID())
		}
		n, err := eventlog.Migrate(from, to, w.ID, hooks)
		if err != nil {
			return fmt.Errorf("workspace %s: %w", w.ID, err)
		}
		if n == 0 {
			fmt.Printf("%s: nothing to move (empty, or moved before)\n", w.ID)
		} else {
			fmt.Printf("%s: moved %d events to stream %s\n", w.ID, n, eventlog.StreamName(w.ID))
		}
	}
	return nil
}
