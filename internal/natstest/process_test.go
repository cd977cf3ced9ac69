package natstest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestMain(m *testing.M) {
	if ServeProcess() {
		return
	}
	os.Exit(m.Run())
}

// StartProcess serves JetStream with file storage from a process of its
// own: a stream created there takes publishes and reads them back.
func TestStartProcessServesJetStream(t *testing.T) {
	url := StartProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := connect(t, url)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "P", Subjects: []string{"p.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	want := []string{"one", "two"}
	for _, w := range want {
		if _, err := js.Publish(ctx, "p.x", []byte(w)); err != nil {
			t.Fatalf("Publish(%q): %v", w, err)
		}
	}
	readAll(ctx, t, s, want)
}
