package eventlog

// Token is workspace ws as a NATS stream-name and subject token, the one
// StreamName uses ("TL_"+Token(ws)): ws itself when it is 1 to 48 of
// [A-Za-z0-9_-], else "x" and its hex. Stores beside the log (the relay's
// attachments) name their buckets with it, so that a workspace's streams
// and buckets sort together.
func Token(ws string) string { return token(ws) }
