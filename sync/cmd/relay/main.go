// Command relay serves Threadline's sync protocol: it orders the events of
// its workspaces in a durable log and fans them out to devices.
//
//	relay --listen 127.0.0.1:8470 --data DIR --config relay.json
//	relay --listen :443 --tls-cert cert.pem --tls-key key.pem --config relay.json
//	relay --config relay.json --nats nats://n1:4222,nats://n2:4222,nats://n3:4222
//	relay migrate --data DIR --config relay.json --nats URL[,URL…]
//
// With --tls-cert and --tls-key it serves https and wss itself; behind a
// reverse proxy that terminates TLS it serves plain http. SIGHUP reloads
// --config (tokens, API keys, webhooks, allowed origins; new workspaces):
// sessions that stay valid keep going, and a config that does not parse is
// refused with the line it fails at, while the old one keeps serving.
//
// With --nats the log is on NATS JetStream, shared by every relay pointed
// at the same servers (DESIGN §6); --data then holds only caches. migrate
// moves the embedded log in DIR to JetStream, keeping epochs and seqs, so
// devices carry on from their cursors: stop the relay first, migrate, then
// start the relays with --nats.
//
// Without --config it hosts one demo workspace, "demo", whose tokens and
// identity secret are made on first start, kept in DIR/demo-config.json and
// printed to stdout once at each start. See package relay for the config
// format and how secrets come from the environment.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/relay"
	"github.com/threadline/threadline/sync/widget"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		if err := migrate(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "relay migrate:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:8470", "address to serve on")
	data := flag.String("data", "relay-data", "directory of the relay's log and attachments")
	config := flag.String("config", "", "workspaces config file (JSON); none: a demo workspace")
	demoWS := flag.String("demo-workspace", "", "workspace the /demo page embeds (without --config: the demo workspace)")
	demoHash := flag.Bool("demo-hash", false, "let /demo compute contact hashes with that workspace's identity secret (demo workspaces only: anyone could speak as any contact)")
	widgetRelay := flag.String("widget-relay-url", "", "sync URL widget.js connects to (default: the origin that served it)")
	tlsCert := flag.String("tls-cert", "", "serve https and wss with this certificate (PEM; with --tls-key)")
	tlsKey := flag.String("tls-key", "", "the certificate's private key (PEM)")
	natsURLs := flag.String("nats", "", "keep the log on NATS JetStream at these servers (nats:// or tls:// URLs, comma-separated), shared with the other relays there; none: the embedded log in --data")
	natsCreds := flag.String("nats-creds", os.Getenv("THREADLINE_NATS_CREDS"), "NATS credentials file (default $THREADLINE_NATS_CREDS)")
	natsReplicas := flag.Int("nats-replicas", 3, "replicas of each workspace's stream: 3 in a cluster; 1 on one server, which then needs sync_interval: always for an ack to mean on disk")
	filesUnnamed := flag.Duration("files-unnamed-for", 30*24*time.Hour, "at start, remove the attachments (embedded store) that no event names and that nobody has uploaded for this long: uploads whose message never came; 0 keeps them")
	lowLatency := flag.Bool("low-latency", false, "while events flow, keep the CPUs out of deep idle states (Linux PM QoS; needs root): less latency per event, busier CPUs")
	flag.Parse()

	lg := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if (*tlsCert == "") != (*tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	var tlsConfig *tls.Config
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	if err := os.MkdirAll(*data, 0o700); err != nil {
		return err
	}
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

	log, err := openLog(*data, *natsURLs, *natsCreds, *natsReplicas, lg)
	if err != nil {
		return err
	}
	blobs, err := openBlobs(*data, log) // attachments (DESIGN §10)
	if err != nil {
		log.Close()
		return err
	}
	if d, ok := blobs.(*relay.DiskBlobs); ok && *filesUnnamed > 0 { // before serving: see Collect
		if n, freed, err := d.Collect(*filesUnnamed, time.Now()); err != nil {
			lg.Warn("files: collect the files no event names", "err", err)
		} else if n > 0 {
			lg.Info("files: removed files no event names", "files", n, "bytes", freed, "unnamed_for", *filesUnnamed)
		}
	}
	srv, err := relay.New(cfg, log, relay.Options{Logger: lg, LowLatency: *lowLatency, Blobs: blobs})
	if err != nil {
		log.Close()
		return err
	}

	wopts := widget.Options{RelayURL: *widgetRelay, Logger: lg}
	switch {
	case *config == "":
		w := cfg.Workspaces[0]
		wopts.Demo = widget.Demo{Workspace: w.ID, Name: "Acme Hosting", IdentitySecret: w.IdentitySecret}
	case *demoWS != "":
		for _, w := range cfg.Workspaces {
			if w.ID == *demoWS {
				wopts.Demo = widget.Demo{Workspace: w.ID, Name: w.Name}
				if *demoHash {
					wopts.Demo.IdentitySecret = w.IdentitySecret
				}
			}
		}
		if wopts.Demo.Workspace == "" {
			srv.Shutdown(context.Background())
			log.Close()
			return fmt.Errorf("--demo-workspace %q: no such workspace in the config", *demoWS)
		}
	}
	widget.Mount(srv.Handler(), wopts) // /widget.js, /widget/, /demo next to /v1/sync

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		srv.Shutdown(context.Background())
		log.Close()
		return err
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second, // cleared on WebSocket upgrade
		WriteTimeout:      30 * time.Second, // cleared on WebSocket upgrade
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(lg.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if tlsConfig != nil {
		hs.TLSConfig = tlsConfig
		ln = tls.NewListener(ln, tlsConfig)
		scheme = "https"
	}
	lg.Info("listening", "addr", ln.Addr().String(), "scheme", scheme, "data", *data)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()

wait:
	for {
		select {
		case <-ctx.Done():
			lg.Info("shutting down")
			break wait
		case err = <-serveErr:
			lg.Error("server stopped", "err", err)
			break wait
		case <-hup:
			reload(srv, *config, lg)
		}
	}
	// Stop accepting, close the sessions (4010), let queued group commits
	// finish, then close the log.
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if herr := hs.Shutdown(sctx); herr != nil {
		lg.Warn("http shutdown", "err", herr)
	}
	if rerr := srv.Shutdown(sctx); rerr != nil {
		lg.Warn("relay shutdown", "err", rerr)
	}
	if cerr := log.Close(); cerr != nil {
		return cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// openLog opens the embedded log in data, or with natsURLs the shared one
// on JetStream.
func openLog(data, natsURLs, creds string, replicas int, lg *slog.Logger) (eventlog.Log, error) {
	if natsURLs == "" {
		return eventlog.OpenBadger(filepath.Join(data, "log"), lg)
	}
	host, _ := os.Hostname()
	l, err := eventlog.Connect(eventlog.JetStreamOptions{
		URLs: natsURLs, Creds: creds, Replicas: replicas, Logger: lg, Name: "threadline-relay " + host,
	})
	if err != nil {
		return nil, fmt.Errorf("--nats: %w", err)
	}
	lg.Info("log on NATS JetStream", "servers", eventlog.RedactURLs(natsURLs), "replicas", replicas)
	return l, nil
}

// openBlobs opens the attachment store beside log: on JetStream, the
// workspaces' object stores (shared with the other relays; data keeps only
// a cache of them), else the files in data.
func openBlobs(data string, log eventlog.Log) (relay.Blobs, error) {
	if js, ok := log.(*eventlog.JetStream); ok {
		b, err := relay.OpenJetStreamBlobs(js.JetStream(), js.Replicas(), filepath.Join(data, "cache", "files"))
		if err != nil {
			return nil, fmt.Errorf("--nats: files: %w", err)
		}
		return b, nil
	}
	return relay.OpenDiskBlobs(filepath.Join(data, "files"))
}

// reload applies the config file again (SIGHUP). Without --config there is
// nothing to reload.
func reload(srv *relay.Server, path string, lg *slog.Logger) {
	if path == "" {
		lg.Warn("reload: no --config to reload (the demo workspace is fixed)")
		return
	}
	cfg, err := relay.LoadConfig(path)
	if err == nil {
		err = srv.Reload(cfg)
	}
	if err != nil {
		lg.Error("reload refused; the old config keeps serving", "config", path, "err", err)
	}
}

// demoConfig loads the demo workspace kept in dir, making it on first use,
// and prints its tokens once.
func demoConfig(dir string) (*relay.Config, error) {
	path := filepath.Join(dir, "demo-config.json")
	b, err := os.ReadFile(path)
	var cfg *relay.Config
	switch {
	case err == nil:
		cfg, err = relay.ParseConfig(b, os.LookupEnv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist):
		cfg = relay.DemoConfig()
		b, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	w := cfg.Workspaces[0]
	fmt.Printf("Threadline relay demo workspace %q (kept in %s)\n", w.ID, path)
	fmt.Printf("  identity secret:  %s\n", w.IdentitySecret)
	for _, a := range w.Agents {
		fmt.Printf("  agent %-10s token: %s\n", a.ID, a.Token)
	}
	for _, a := range w.Assistants {
		fmt.Printf("  assistant %-6s token: %s\n", a.ID, a.Token)
	}
	return cfg, nil
}
