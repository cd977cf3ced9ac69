// Package client is the device side of sync: it connects to a relay, says
// hello with its cursor, applies the canonical events the relay sends,
// pushes the device's own events in mid order, relays typing, and reconnects
// with capped, jittered backoff (DESIGN.md §5). It is also Threadline's Go
// client SDK: with Memory as its store, a bot or a tool syncs a workspace
// without the desktop app.
//
// # Use
//
//	mem := client.NewMemory(me, deviceID) // or the app's store: any Local
//	c, err := client.New(client.Options{
//		URL: "ws://127.0.0.1:8470", Workspace: "acme", Device: deviceID,
//		Auth:  protocol.Auth{Kind: protocol.AuthAgent, Token: token},
//		Local: mem, Logger: logger,
//		OnState:  func(s client.Status) { … }, // status line, progress bar
//		OnTyping: func(t protocol.Typing) { … },
//	})
//	go c.Run(ctx)
//	…
//	ev, err := mem.Act(convID, conv.KindMessageSent, conv.Message{Text: "Hello"}) // pushed at once
//	…
//	out, err := mem.Wait(ctx, ev.ID) // logged (out.Seq), or rejected (err is the relay's *conv.Error)
//
// A bot that should not hold the whole workspace keeps only its own
// conversations: client.NewMemory(me, deviceID, client.KeepMine(me)).
//
// A Local other than Memory (the desktop app's inbox) calls the Client's
// Kick after each local change, unless it implements PendingNotifier.
//
// # States
//
// offline → connecting → syncing (the backlog, with Status.Received of
// Status.Backlog) → online (caught up, live) → offline when the connection
// ends, and again after a backoff (250 ms doubling to 30 s, each wait
// drawn in [d/2, d]). failed is terminal: the relay closed the session with
// a 4500–4999 code (bad credentials, unknown workspace, unsupported
// protocol); Run returns a *SessionError and does not retry.
//
// # Guarantees
//
// Canonical events reach Local in the relay's order, one ApplyCanonical at
// a time, from one goroutine; the cursor moves only when Local has stored
// them, so a crash or a dropped connection resumes from what is durable.
// Nothing is dropped: a frame the Client cannot take is a broken
// connection, resumed from the cursor. A reader goroutine decodes frames
// ahead of a slow Local (and counts as proof of life for the heartbeat).
//
// Pushes carry Local.Pending in mid order, at most protocol.MaxPushEvents
// and under protocol.MaxFrameBytes each, one in flight, paced under the
// relay's rate limit. An ack's outcomes go to Local.Acknowledged; an error
// frame in place of the ack (rate_limited, too_many, bad_frame) backs off
// and pushes again. Events the connection lost before their ack are pushed
// again on the next connection; the relay answers from its mid memory, so
// nothing is logged twice.
//
// Heartbeat: the Client pings a silent relay and drops a connection on
// which neither a frame nor a pong arrived within protocol.IdleTimeout.
package client
