package app

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/threadline/threadline/backend/profile"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
)

// relayProblem says, for people, why a connection to the relay at relayURL
// failed or was refused, from what the sync client reports: what happened
// in a few words and what to check, never Go's chain of wrapped errors (the
// log keeps that). Its code is the relay's (unauthorized, unknown_workspace,
// unsupported_protocol) or "offline" when the relay could not be reached.
func relayProblem(relayURL, workspace string, s client.Status) *Error {
	code := s.Code
	if code == "" {
		code = "offline"
		if s.State == client.StateFailed {
			code = "unauthorized"
		}
	}
	return &Error{Code: code, Message: relayProblemText(relayURL, workspace, code, s.Error)}
}

// relayProblemText is relayProblem's sentence; the status line uses it too.
func relayProblemText(relayURL, workspace, code, errText string) string {
	at := relayURL
	if at == "" {
		at = "the relay"
	}
	low := strings.ToLower(errText)
	reach := func(why string) string {
		return fmt.Sprintf("Can't reach the relay at %s (%s). Check the address or your network.", at, why)
	}
	switch {
	case code == protocol.CodeUnauthorized:
		return fmt.Sprintf("The relay at %s refused this agent token for workspace %q. Check the token your workspace admin gave you.", at, workspace)
	case code == protocol.CodeUnknownWorkspace:
		return fmt.Sprintf("The relay at %s has no workspace %q. Check the workspace id.", at, workspace)
	case code == protocol.CodeUnsupportedProtocol:
		return fmt.Sprintf("The relay at %s speaks another version of Threadline's sync protocol. Update Threadline, or ask your admin to update the relay.", at)
	case strings.Contains(errText, "x509:"):
		return fmt.Sprintf("The certificate of the relay at %s is not trusted on this computer (%s). Set %s, or relayCA in the profile's %s, to the PEM file of its certificate or of the CA that signed it.",
			at, x509Reason(errText), profile.RelayCAEnv, profile.FileName)
	case strings.Contains(low, "connection refused"):
		return reach("connection refused")
	case strings.Contains(low, "no such host"), strings.Contains(low, "server misbehaving"):
		return reach("no server has that name")
	case strings.Contains(low, "network is unreachable"), strings.Contains(low, "no route to host"):
		return reach("the network is unreachable")
	case strings.Contains(low, "connection reset"):
		return reach("the connection was reset")
	case strings.Contains(low, "first record does not look like a tls handshake"):
		return fmt.Sprintf("The relay at %s does not use TLS. Use a ws:// or http:// address instead of wss://.", at)
	case strings.Contains(low, "malformed http response"), strings.Contains(low, "tls: "):
		return fmt.Sprintf("The relay at %s expects a secure connection. Use a wss:// or https:// address.", at)
	case statusCode.MatchString(errText):
		return fmt.Sprintf("The server at %s answered, but not as a Threadline relay (HTTP %s). Check the address: it is the relay's, such as wss://relay.example.com.",
			at, statusCode.FindStringSubmatch(errText)[1])
	case strings.Contains(low, "timeout"), strings.Contains(low, "deadline exceeded"):
		return reach(fmt.Sprintf("no answer within %d seconds", int(connectTimeout.Seconds())))
	case strings.Contains(low, "eof"), strings.Contains(low, "connection lost"), strings.Contains(low, "closed the connection"):
		return reach("the connection closed")
	case errText == "":
		return reach("no answer")
	}
	return reach(lastCause(errText))
}

var statusCode = regexp.MustCompile(`status code 101 but got (\d{3})`)

// x509Reason keeps what x509 says, without the wrapping before it.
func x509Reason(errText string) string {
	return errText[strings.Index(errText, "x509:"):]
}

// lastCause is the innermost error of a chain "a: b: c" ("c").
func lastCause(errText string) string {
	if i := strings.LastIndex(errText, ": "); i >= 0 && i+2 < len(errText) {
		return errText[i+2:]
	}
	return errText
}
