package app

import (
	"context"
	"testing"
	"time"
)

// TestCreatedConversationShowsOnce: a conversation created while connected
// shows each of its items once, whatever the order of ack and echo.
func TestCreatedConversationShowsOnce(t *testing.T) {
	url := startRelay(t)
	a, rec := started(t, false)
	if err := a.Connect(url, "acme", tokAna); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 5 {
		id, err := a.CreateConversation(NewConversation{ContactID: "maria", ContactName: "Maria", Subject: "Hello", Text: "first words"})
		if err != nil {
			t.Fatal(err)
		}
		for {
			tl, err := a.Timeline(id, "", 50)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			pending := false
			for _, it := range tl.Items {
				if seen[it.ID] {
					t.Fatalf("round %d: item %s (%s) shows twice: %+v", i, it.ID, it.Kind, tl.Items)
				}
				seen[it.ID] = true
				pending = pending || it.State == "pending"
			}
			if !pending && len(tl.Items) == 3 {
				break
			}
			select {
			case <-rec.ch:
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				t.Fatalf("round %d: never settled: %+v", i, tl.Items)
			}
		}
	}
}
