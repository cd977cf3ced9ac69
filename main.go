// Command threadline is the Threadline desktop app: it embeds the built frontend, builds the
// app.App and runs the window. It only wires things together.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"
	"github.com/wailsapp/wails/v2/pkg/options/linux"

	"github.com/threadline/threadline/app"
)

//go:embed all:frontend/dist
var assets embed.FS

//go:embed build/appicon.png
var icon []byte

// windowTitle is what the smoke test (scripts/smoke.sh) looks for.
const windowTitle = "Threadline"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "threadline:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, serve, err := parseFlags(args, os.Stderr, os.UserConfigDir)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))

	a := app.New(cfg)
	if serve != "" {
		return serveBrowser(a, serve, cfg.Logger)
	}
	return wails.Run(&options.App{
		Title:     windowTitle,
		Width:     1280,
		Height:    800,
		MinWidth:  960,
		MinHeight: 600,
		AssetServer: &assetserver.Options{
			Assets:  assets,
			Handler: app.FilesHandler(a), // attachments' bytes: /files/…
		},
		// The frontend's --app-bg (frontend/src/style.css), so no other colour flashes at start.
		BackgroundColour: &options.RGBA{R: 0xf7, G: 0xf7, B: 0xf8, A: 255},
		OnStartup:        a.OnStartup,
		OnShutdown:       a.OnShutdown,
		Bind:             []any{a},
		Linux: &linux.Options{
			Icon:        icon,
			ProgramName: "threadline",
		},
	})
}

// profileName keeps a profile a single, ordinary folder name.
var profileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// parseFlags reads --data, --profile and --demo. Without --data the store lives in
// <user config dir>/threadline/<profile>.
func parseFlags(args []string, out io.Writer, userConfigDir func() (string, error)) (app.Config, string, error) {
	fs := flag.NewFlagSet("threadline", flag.ContinueOnError)
	fs.SetOutput(out)
	data := fs.String("data", "", "folder of the local store (default: <user config dir>/threadline/<profile>)")
	profile := fs.String("profile", "default", "profile name: one store per profile")
	demo := fs.Bool("demo", false, "fill a new store with sample conversations")
	serve := fs.String("serve", "", "serve the UI to a browser at this address (e.g. 127.0.0.1:34115) instead of opening a window")
	if err := fs.Parse(args); err != nil {
		return app.Config{}, "", err
	}
	if fs.NArg() > 0 {
		return app.Config{}, "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if !profileName.MatchString(*profile) {
		return app.Config{}, "", fmt.Errorf("profile %q: use letters, digits, '.', '_' or '-' (at most 64)", *profile)
	}
	dir := *data
	if dir == "" {
		base, err := userConfigDir()
		if err != nil {
			return app.Config{}, "", fmt.Errorf("find the user config folder (pass --data): %w", err)
		}
		dir = filepath.Join(base, "threadline", *profile)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return app.Config{}, "", fmt.Errorf("data folder: %w", err)
	}
	return app.Config{DataDir: dir, Profile: *profile, Demo: *demo}, *serve, nil
}

// serveBrowser runs the App without a window: the UI and its API over HTTP
// (app.Handler), for development in a browser and for end-to-end tests.
func serveBrowser(a *app.App, addr string, log *slog.Logger) error {
	dist, err := fs.Sub(assets, "frontend/dist")
	if err != nil {
		return err
	}
	h := app.Handler(a, dist)
	if err := app.Start(a); err != nil {
		return err
	}
	defer app.Stop(a)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("serving the UI", "url", "http://"+ln.Addr().String())
	fmt.Printf("threadline: serving http://%s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
