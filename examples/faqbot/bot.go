package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"unicode"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/client"
)

// Entry is one FAQ answer and the words that call for it.
type Entry struct {
	Keywords []string `json:"keywords"`
	Answer   string   `json:"answer"`
}

// LoadFAQ reads a FAQ file: a JSON array of entries.
func LoadFAQ(path string) ([]Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("faq: %w", err)
	}
	var faq []Entry
	if err := json.Unmarshal(b, &faq); err != nil {
		return nil, fmt.Errorf("faq: %s: %w", path, err)
	}
	for i, e := range faq {
		if len(e.Keywords) == 0 || strings.TrimSpace(e.Answer) == "" {
			return nil, fmt.Errorf("faq: %s: entry %d needs keywords and an answer", path, i)
		}
		if len(e.Answer) > conv.MaxTextBytes {
			return nil, fmt.Errorf("faq: %s: entry %d: the answer is %d bytes; a message holds at most %d", path, i, len(e.Answer), conv.MaxTextBytes)
		}
	}
	return faq, nil
}

// Match returns the answer of the first entry one of whose keywords appears
// in text as whole words, or "" when none does.
func Match(faq []Entry, text string) string {
	words := " " + strings.Join(strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}), " ") + " "
	for _, e := range faq {
		for _, k := range e.Keywords {
			if strings.Contains(words, " "+strings.ToLower(k)+" ") {
				return e.Answer
			}
		}
	}
	return ""
}

// HandOffText is what the bot says before handing a conversation to a human.
const HandOffText = "I'm not sure about that one — I'm handing you over to a teammate, who will answer here shortly."

// Bot answers the conversations created with its assistant id while they
// are in assistant mode, and hands off to a human when it cannot answer.
type Bot struct {
	AssistantID string
	FAQ         []Entry
	Mem         *client.Memory // NewMemory(me, device, client.KeepMine(me)): only the bot's conversations
	Sync        *client.Client // the bot acts only while it is online
	Log         *slog.Logger   // nil: slog.Default()

	handled map[string]uint64 // by conversation: the contact's message (its seq) last answered or given up on
}

// Step answers every conversation waiting for the bot and returns how many
// events it made. A conversation waits when it is the bot's, in assistant
// mode, and its latest public message is the contact's or visitor's, one
// the bot has not answered yet (nor given up on). Each answer is pushed at
// once; the relay's verdict comes back on a goroutine (settle), so a slow
// answer holds up no other. Call it from one goroutine at a time (Run).
func (b *Bot) Step(ctx context.Context) int {
	if b.handled == nil {
		b.handled = map[string]uint64{}
	}
	made := 0
	live := map[string]bool{}
	for _, c := range b.Mem.Conversations() {
		live[c.ID] = true
		if c.AssistantID != b.AssistantID || !c.AssistantMode || !c.LastMessageBy.IsEndUser() {
			continue
		}
		if seq, ok := b.handled[c.ID]; ok && seq == c.LastContactSeq {
			continue // answered, or refused: a refused answer would be refused again
		}
		b.handled[c.ID] = c.LastContactSeq
		if answer := Match(b.FAQ, c.LastMessage); answer != "" {
			made += b.act(ctx, c, conv.KindMessageSent, conv.Message{Text: answer})
			continue
		}
		if b.act(ctx, c, conv.KindMessageSent, conv.Message{Text: HandOffText}) == 1 {
			made += 1 + b.act(ctx, c, conv.KindAssistantHandedOff, conv.HandedOff{})
		}
	}
	for id := range b.handled { // conversations no longer the bot's (handed off)
		if !live[id] {
			delete(b.handled, id)
		}
	}
	return made
}

// act makes one event in c and returns 1, or 0 when the device's own check
// refuses it.
func (b *Bot) act(ctx context.Context, c *conv.Conversation, kind conv.Kind, data any) int {
	e, err := b.Mem.Act(c.ID, kind, data)
	if err != nil {
		b.refused(c.ID, kind, err)
		return 0
	}
	go b.settle(ctx, e)
	return 1
}

// settle waits for the relay's verdict on e. A rejected event is logged and
// dropped from the outbox: a bot has nobody to retry it.
func (b *Bot) settle(ctx context.Context, e conv.Event) {
	_, err := b.Mem.Wait(ctx, e.ID)
	if err == nil || ctx.Err() != nil {
		return
	}
	b.refused(e.Conv, e.Kind, err)
	if err := b.Mem.Discard(e.ID); err != nil {
		b.log().Warn("faqbot: discard a rejected event", "conv", e.Conv, "id", e.ID, "err", err)
	}
}

func (b *Bot) refused(convID string, kind conv.Kind, err error) {
	b.log().Error("faqbot: an answer was refused; leaving the question to a human", "conv", convID, "kind", kind, "err", err)
}

func (b *Bot) log() *slog.Logger {
	if b.Log == nil {
		return slog.Default()
	}
	return b.Log
}

// Run steps whenever the bot's store or its connection changes, until ctx
// is done. It acts only once caught up (online): mid-backlog, a contact's
// question may be there while the bot's earlier answer is still on its way.
func (b *Bot) Run(ctx context.Context) {
	for {
		changed, status := b.Mem.Changed(), b.Sync.Watch()
		if b.Sync.State() == client.StateOnline {
			b.Step(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-status:
		}
	}
}
