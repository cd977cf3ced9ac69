import { useCallback, useEffect, useState } from 'react'
import { api, describeError, on } from '../api'
import { repliesApi } from '../api/replies'
import { EventInboxChanged } from '../events'
import { REPLY_VARIABLES, type SavedReply } from '../lib/replies'
import './replies.css'

const empty = { id: '', title: '', shortcut: '', text: '' }

/**
 * Settings' section for the team's saved replies: list, add, edit, delete. They are shared with
 * every agent's device through the relay, and work offline (a save waits, shown as such, and
 * goes up at the next connection); a save the relay refused (a shortcut a teammate took
 * meanwhile) shows with its reason, to retry or discard.
 */
export function SavedReplies() {
  const [replies, setReplies] = useState<SavedReply[] | null>(null)
  const [form, setForm] = useState(empty)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const load = useCallback(() => {
    repliesApi
      .Replies()
      .then(setReplies)
      .catch((e) => setError(describeError(e)))
  }, [])
  useEffect(() => {
    load()
    return on(EventInboxChanged, load)
  }, [load])

  const save = async () => {
    setBusy(true)
    setError(null)
    try {
      await repliesApi.SaveReply({ id: form.id, title: form.title, text: form.text, shortcut: form.shortcut.trim() || undefined })
      setForm(empty)
      load()
    } catch (e) {
      setError(describeError(e))
    } finally {
      setBusy(false)
    }
  }
  const run = async (f: () => Promise<unknown>) => {
    setError(null)
    try {
      await f()
      load()
    } catch (e) {
      setError(describeError(e))
    }
  }

  return (
    <section className="settings-replies" data-testid="settings-replies" aria-label="Saved replies">
      <h3>Saved replies</h3>
      <p className="muted small">
        Your team’s replies, on every agent’s device. Type <kbd>/</kbd> at the start of a reply to pick one. Variables:{' '}
        {REPLY_VARIABLES.map((v, i) => (
          <span key={v.name} title={v.what}>
            {i > 0 ? ', ' : ''}
            <code>{`{{${v.name}}}`}</code>
          </span>
        ))}{' '}
        (a missing value is left out, or use a fallback: <code>{'{{contact.name | there}}'}</code>).
      </p>
      {replies === null ? (
        <p className="muted small">Loading…</p>
      ) : replies.length === 0 ? (
        <p className="muted small" data-testid="settings-replies-empty">
          No saved replies yet.
        </p>
      ) : (
        <ul className="settings-replies-list">
          {replies.map((r) => (
            <li key={r.event ?? r.id} className="settings-reply" data-testid="settings-reply" data-reply={r.id} data-state={r.state ?? ''}>
              <div className="settings-reply-main">
                <span className="settings-reply-title">{r.title}</span>
                {r.shortcut && <span className="reply-option-shortcut"> /{r.shortcut}</span>}
                {r.state === 'pending' && <span className="muted small"> · not sent yet</span>}
                {r.state === 'failed' && (
                  <span className="inline-alert small" role="alert">
                    {' '}
                    Not saved: {r.error?.message ?? 'refused'}
                  </span>
                )}
                <div className="settings-reply-text muted small">{r.text}</div>
              </div>
              {r.state === 'failed' && r.event ? (
                <>
                  <button type="button" className="btn ghost small" onClick={() => void run(() => api.Retry(r.event!))}>
                    Retry
                  </button>
                  <button type="button" className="btn ghost small" onClick={() => void run(() => api.Discard(r.event!))}>
                    Discard
                  </button>
                </>
              ) : (
                <>
                  <button
                    type="button"
                    className="btn ghost small"
                    onClick={() => setForm({ id: r.id, title: r.title, shortcut: r.shortcut ?? '', text: r.text })}
                    data-testid="settings-reply-edit"
                  >
                    Edit
                  </button>
                  <button type="button" className="btn ghost small danger" onClick={() => void run(() => repliesApi.DeleteReply(r.id))} data-testid="settings-reply-delete">
                    Delete
                  </button>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      <form
        className="settings-reply-form"
        onSubmit={(e) => {
          e.preventDefault()
          void save()
        }}
        data-testid="settings-reply-form"
      >
        <div className="row">
          <input
            className="input"
            placeholder="Title"
            aria-label="Title of the saved reply"
            maxLength={100}
            value={form.title}
            onChange={(e) => setForm({ ...form, title: e.target.value })}
            data-testid="settings-reply-title"
          />
          <input
            className="input"
            placeholder="Shortcut (optional)"
            aria-label="Shortcut of the saved reply"
            maxLength={33}
            value={form.shortcut}
            onChange={(e) => setForm({ ...form, shortcut: e.target.value })}
            style={{ width: '12em' }}
            data-testid="settings-reply-shortcut"
          />
        </div>
        <textarea
          className="input"
          rows={3}
          placeholder="Hi {{contact.name}}, …"
          aria-label="Text of the saved reply"
          maxLength={5000}
          value={form.text}
          onChange={(e) => setForm({ ...form, text: e.target.value })}
          data-testid="settings-reply-text"
        />
        {error && (
          <div className="inline-alert" role="alert" data-testid="settings-reply-error">
            {error}
          </div>
        )}
        <div className="form-actions">
          <span className="spacer" />
          {form.id && (
            <button type="button" className="btn ghost small" onClick={() => setForm(empty)}>
              Cancel
            </button>
          )}
          <button type="submit" className="btn small" disabled={busy || !form.title.trim() || !form.text.trim()} data-testid="settings-reply-save">
            {form.id ? 'Save changes' : 'Add reply'}
          </button>
        </div>
      </form>
    </section>
  )
}
