// The first run without a relay (and without --demo): what Threadline is, and how to connect to a
// team's relay. It stands in the conversation pane while the inbox is local-only.

export function Welcome({ onConnect, onNewConversation }: { onConnect: () => void; onNewConversation: () => void }) {
  return (
    <div className="welcome" data-testid="welcome">
      <h2>Welcome to Threadline</h2>
      <p>
        Threadline is your team’s support inbox: the conversations with your customers, from the chat on your website and from your team, kept on this
        computer so it opens at once and keeps working offline.
      </p>
      <p>
        Right now it works on its own. To share it with your team, connect to your team’s relay. You need its address, your workspace id and your agent
        token: whoever runs the relay for your team has them.
      </p>
      <div className="welcome-actions">
        <button type="button" className="btn primary" onClick={onConnect} data-testid="welcome-connect">
          Connect to a relay
        </button>
        <button type="button" className="btn ghost" onClick={onNewConversation} data-testid="welcome-new">
          Start a conversation here
        </button>
      </div>
      <p className="muted small">
        Conversations you start before connecting are sent to the relay when you first connect. To look around first, start Threadline with{' '}
        <code>--demo</code> for a sample inbox.
      </p>
      <p className="muted small">
        <kbd>j</kbd> <kbd>k</kbd> to move, <kbd>Enter</kbd> to open, <kbd>?</kbd> for every shortcut
      </p>
    </div>
  )
}
