import { useState } from 'react'
import { MAX_TOPIC_CHARS } from '../../lib/format'
import { Modal } from '../Modal'

export interface ThreadDialogProps {
  active?: string | null // topic of the active thread, if any
  onStart: (topic: string) => Promise<string | null> // resolves to an error message or null
  onClose: () => void
}

/** Starts a thread with a topic (required, at most 200 characters). */
export function ThreadDialog({ active, onStart, onClose }: ThreadDialogProps) {
  const [topic, setTopic] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const len = [...topic.trim()].length
  const submit = async (e: React.FormEvent) => {
    e.preventDefault()
    const t = topic.trim()
    if (!t) return setError('A thread needs a topic')
    if (len > MAX_TOPIC_CHARS) return setError(`At most ${MAX_TOPIC_CHARS} characters`)
    setBusy(true)
    const err = await onStart(t)
    setBusy(false)
    if (err) setError(err)
    else onClose()
  }
  return (
    <Modal title="Start a thread" onClose={onClose} testId="thread-dialog">
      <form onSubmit={submit} className="form">
        <label className="field">
          <span>Topic</span>
          <input
            data-testid="thread-topic"
            value={topic}
            maxLength={MAX_TOPIC_CHARS * 2}
            placeholder="Customer server offline (Ticket #1929383)"
            onChange={(e) => {
              setTopic(e.target.value)
              setError(null)
            }}
            aria-invalid={!!error}
          />
        </label>
        <div className="field-foot">
          {error ? (
            <span className="field-error" role="alert" data-testid="thread-error">
              {error}
            </span>
          ) : (
            <span className="muted">{active !== undefined && active !== null ? `This ends the active thread${active ? ` “${active}”` : ''}.` : 'Later messages belong to this thread.'}</span>
          )}
          <span className={`counter${len > MAX_TOPIC_CHARS ? ' over' : ''}`}>
            {len}/{MAX_TOPIC_CHARS}
          </span>
        </div>
        <div className="form-actions">
          <button type="button" className="btn ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn primary" disabled={busy || !topic.trim() || len > MAX_TOPIC_CHARS} data-testid="thread-start-submit">
            Start thread
          </button>
        </div>
      </form>
    </Modal>
  )
}
