package app

import (
	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
)

// Saved replies (canned replies): the team's library, shared through the
// relay's log and kept on this device (inbox/replies.go). The UI lists them
// in Settings and in the composer's "/" picker, and refetches on
// inbox:changed (a save, a teammate's save arriving, an outcome).

// Replies lists the team's saved replies by title, then the saves the
// relay refused (state "failed", with the error and the event to Retry or
// Discard).
func (a *App) Replies() ([]inbox.SavedReply, error) {
	in, err := a.current()
	if err != nil {
		return nil, err
	}
	return in.Replies(nil), nil
}

// SaveReply saves a reply: a new one when its id is empty, else an edit.
// It returns the reply as saved (with its id).
func (a *App) SaveReply(r conv.Reply) (conv.Reply, error) {
	var saved conv.Reply
	err := a.act(func(in *inbox.Inbox) error {
		var err error
		saved, err = in.SaveReply(r)
		return err
	})
	if err != nil {
		return conv.Reply{}, err
	}
	a.kick()
	return saved, nil
}

// DeleteReply deletes a saved reply.
func (a *App) DeleteReply(id string) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return conv.Event{}, in.DeleteReply(id) })
}
