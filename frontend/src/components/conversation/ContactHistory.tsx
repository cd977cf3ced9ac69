import { useEffect, useState } from 'react'
import { api, normalizeError } from '../../api'
import type { ContactHistory as History } from '../../api/types'
import { fullTime, relativeTime } from '../../lib/format'

export interface ContactHistoryProps {
  /** The conversation shown: left out of "other conversations". */
  convId: string
  contactId: string
  /** Changes when the history may have changed (the conversation's activity): fetched again then,
   * never on every render. */
  refreshKey?: unknown
  onOpen?: (id: string) => void
}

const STATUS_LABELS: Record<string, string> = { open: 'Open', snoozed: 'Snoozed', resolved: 'Resolved' }

/** First seen and the contact's other conversations, from App.Contact (the store's index by
 * contact); one click opens one. */
export function ContactHistory({ convId, contactId, refreshKey, onOpen }: ContactHistoryProps) {
  const [history, setHistory] = useState<History | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    if (!contactId) return
    let live = true
    api
      .Contact(contactId)
      .then((h) => {
        if (!live) return
        setHistory(h)
        setError(null)
      })
      .catch((e) => {
        if (live) setError(normalizeError(e).message)
      })
    return () => {
      live = false
    }
  }, [contactId, refreshKey])

  if (error) {
    return (
      <div className="contact-history muted" data-testid="contact-history-error">
        History unavailable: {error}
      </div>
    )
  }
  if (!history) return null
  const others = (history.conversations ?? []).filter((r) => r.id !== convId)
  return (
    <div className="contact-history" data-testid="contact-history">
      {history.firstSeen ? (
        <div className="details-contact-first muted" data-testid="contact-first-seen" title={fullTime(history.firstSeen)}>
          First seen {fullTime(history.firstSeen)}
        </div>
      ) : null}
      <div className="contact-others-title muted">{others.length === 0 ? 'No other conversations' : `Other conversations (${others.length})`}</div>
      {others.length > 0 && (
        <ul className="contact-others" data-testid="contact-conversations">
          {others.map((r) => (
            <li key={r.id}>
              <button
                type="button"
                className="contact-conv"
                data-testid="contact-conversation"
                data-conv={r.id}
                title={r.subject || 'No subject'}
                onClick={() => onOpen?.(r.id)}
              >
                <span className="contact-conv-subject">{r.subject || 'No subject'}</span>
                <span className="contact-conv-meta">
                  <span className={`status-pill ${r.status}`}>{STATUS_LABELS[r.status] ?? r.status}</span>
                  <span className="muted">{relativeTime(r.lastActivityAt)}</span>
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  )
}
