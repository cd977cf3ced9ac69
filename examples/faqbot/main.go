// Command faqbot is an example assistant built on the Go client SDK
// (sync/client): it takes the conversations created with its assistant id,
// answers from a small FAQ file, and hands off to a human
// (assistant.handed_off) when it cannot answer.
//
//	go run ./examples/faqbot --relay ws://127.0.0.1:8470 --workspace acme \
//	    --assistant faq --token "$FAQ_TOKEN" --faq examples/faqbot/faq.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "faqbot:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("faqbot", flag.ContinueOnError)
	relayURL := fs.String("relay", "ws://127.0.0.1:8470", "relay URL")
	workspace := fs.String("workspace", "acme", "workspace id")
	assistant := fs.String("assistant", "faq", "assistant id: the bot answers conversations created with it")
	token := fs.String("token", os.Getenv("FAQBOT_TOKEN"), "assistant token (or $FAQBOT_TOKEN)")
	faqPath := fs.String("faq", "examples/faqbot/faq.json", "FAQ file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *token == "" {
		return errors.New("an assistant token is required (--token or $FAQBOT_TOKEN)")
	}
	faq, err := LoadFAQ(*faqPath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	return serve(ctx, log, *relayURL, *workspace, *assistant, *token, faq)
}

// serve runs the bot and its sync client until ctx is done.
func serve(ctx context.Context, log *slog.Logger, relayURL, workspace, assistant, token string, faq []Entry) error {
	// A fresh device per run: the store is in memory, so the relay must not
	// expect mids this process never made.
	// It keeps only its own conversations (assistant mode with it, or
	// assigned to it), not the whole workspace.
	me := conv.Participant{ID: conv.AssistantPrefix + assistant, Role: conv.RoleAssistant}
	mem := client.NewMemory(me, uuid.NewString(), client.KeepMine(me))
	cl, err := client.New(client.Options{
		URL: relayURL, Workspace: workspace, Device: mem.Device(),
		Auth:   protocol.Auth{Kind: protocol.AuthAssistant, Token: token},
		Local:  mem,
		Logger: log,
	})
	if err != nil {
		return err
	}
	bot := &Bot{AssistantID: assistant, FAQ: faq, Mem: mem, Sync: cl, Log: log}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- cl.Run(ctx); cancel() }()
	log.Info("faqbot running", "relay", relayURL, "workspace", workspace, "assistant", assistant)
	bot.Run(ctx)
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
