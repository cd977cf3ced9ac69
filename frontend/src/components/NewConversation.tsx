import { useState } from 'react'
import { api, describeError } from '../api'
import { MAX_TEXT_BYTES, utf8Length } from '../lib/format'
import { Modal } from './Modal'

export function NewConversationDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (id: string) => void }) {
  const [contactId, setContactId] = useState('')
  const [contactName, setContactName] = useState('')
  const [subject, setSubject] = useState('')
  const [text, setText] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const submit = async (e: React.FormEvent) => {
    e.preventDefault()
    if (!contactId.trim()) return setError('Enter the contact’s id (your own id for this customer, e.g. their email)')
    if (!text.trim()) return setError('Write the first message')
    if (utf8Length(text) > MAX_TEXT_BYTES) return setError('The message is too long')
    setBusy(true)
    setError(null)
    try {
      const id = await api.CreateConversation({ contactId: contactId.trim(), contactName: contactName.trim(), subject: subject.trim(), text })
      onCreated(typeof id === 'string' ? id : String(id))
      onClose()
    } catch (err) {
      setError(describeError(err))
    } finally {
      setBusy(false)
    }
  }

  return (
    <Modal title="New conversation" onClose={onClose} testId="new-conversation-dialog">
      <form className="form" onSubmit={submit} noValidate>
        <div className="field-pair">
          <label className="field">
            <span>Contact id</span>
            <input className="input" value={contactId} onChange={(e) => setContactId(e.target.value)} placeholder="maria@example.com" data-testid="new-contact-id" />
          </label>
          <label className="field">
            <span>Contact name</span>
            <input className="input" value={contactName} onChange={(e) => setContactName(e.target.value)} placeholder="Maria Silva" data-testid="new-contact-name" />
          </label>
        </div>
        <label className="field">
          <span>Subject</span>
          <input className="input" value={subject} onChange={(e) => setSubject(e.target.value)} placeholder="Server offline" data-testid="new-subject" />
        </label>
        <label className="field">
          <span>First message</span>
          <textarea className="input" rows={4} value={text} onChange={(e) => setText(e.target.value)} data-testid="new-text" />
        </label>
        {error && (
          <div className="inline-alert" role="alert" data-testid="new-conversation-error">
            {error}
          </div>
        )}
        <div className="form-actions">
          <button type="button" className="btn ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn primary" disabled={busy} data-testid="new-conversation-submit">
            Start conversation
          </button>
        </div>
      </form>
    </Modal>
  )
}
