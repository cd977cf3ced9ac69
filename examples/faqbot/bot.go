package main

import (
	"context"
	"encoding/json"
	"fmt"
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
	Mem         *client.Memory
	Sync        *client.Client // pushes what the bot makes; the bot acts only while it is online
}

// Step answers every conversation waiting for the bot and returns how many
// events it made. A conversation waits when it is the bot's, in assistant
// mode, and its latest public message is the contact's or visitor's: the
// optimistic view includes the bot's own pending answers, so nothing is
// answered twice.
func (b *Bot) Step() (int, error) {
	made := 0
	for _, c := range b.Mem.Conversations() {
		if c.AssistantID != b.AssistantID || !c.AssistantMode || !c.LastMessageBy.IsEndUser() {
			continue
		}
		if answer := Match(b.FAQ, c.LastMessage); answer != "" {
			if _, err := b.Mem.Act(c.ID, conv.KindMessageSent, conv.Message{Text: answer}); err != nil {
				return made, fmt.Errorf("bot: answer %s: %w", c.ID, err)
			}
			made++
			continue
		}
		if _, err := b.Mem.Act(c.ID, conv.KindMessageSent, conv.Message{Text: HandOffText}); err != nil {
			return made, fmt.Errorf("bot: hand-off message %s: %w", c.ID, err)
		}
		if _, err := b.Mem.Act(c.ID, conv.KindAssistantHandedOff, conv.HandedOff{}); err != nil {
			return made, fmt.Errorf("bot: hand off %s: %w", c.ID, err)
		}
		made += 2
	}
	if made > 0 {
		b.Sync.Kick()
	}
	return made, nil
}

// Run steps whenever the bot's store or its connection changes, until ctx
// is done. It acts only once caught up (online): mid-backlog, a contact's
// question may be there while the bot's earlier answer is still on its way.
func (b *Bot) Run(ctx context.Context) error {
	for {
		changed, status := b.Mem.Changed(), b.Sync.Watch()
		if b.Sync.State() == client.StateOnline {
			if _, err := b.Step(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-status:
		}
	}
}
