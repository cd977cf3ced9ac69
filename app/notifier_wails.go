package app

import (
	"context"

	"github.com/wailsapp/wails/v2/pkg/runtime"
)

// wailsNotifier shows notifications through Wails' notifications runtime
// (v2.15: on Linux, D-Bus org.freedesktop.Notifications on the session bus).
// ctx must be the startup context.
type wailsNotifier struct{ ctx context.Context }

// newWailsNotifier connects to the OS's notification service; clicked gets
// the conversation of a notification the user clicked.
func newWailsNotifier(ctx context.Context, clicked func(conv string)) (Notifier, error) {
	if err := runtime.InitializeNotifications(ctx); err != nil {
		return nil, err
	}
	runtime.OnNotificationResponse(ctx, func(r runtime.NotificationResult) {
		if r.Error != nil {
			return
		}
		// Wails reports a click (ActionInvoked "default") and, on Linux, a
		// notification the user closed as the same default action: either
		// way the user turned to it, and the conversation opens.
		if c, ok := r.Response.UserInfo["conv"].(string); ok {
			clicked(c)
		}
	})
	return wailsNotifier{ctx: ctx}, nil
}

func (w wailsNotifier) Notify(n Notification) error {
	return runtime.SendNotification(w.ctx, runtime.NotificationOptions{
		ID: n.ID, Title: n.Title, Body: n.Body, Data: map[string]any{"conv": n.Conv},
	})
}

func closeWailsNotifier(ctx context.Context) { runtime.CleanupNotifications(ctx) }

// windowShow brings the native window to the front; ctx must be the startup context.
func windowShow(ctx context.Context) {
	runtime.WindowUnminimise(ctx)
	runtime.WindowShow(ctx)
}
