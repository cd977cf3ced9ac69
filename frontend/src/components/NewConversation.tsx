import { useContext, useState } from 'react'
import { api, describeError } from '../api'
import type { AttrValue, AttributeDef, Participant, Priority } from '../api/types'
import { PRIORITIES } from '../api/types'
import { MAX_TEXT_BYTES, nameOf, utf8Length } from '../lib/format'
import { assignable } from '../lib/team'
import { AppContext } from './AppContext'
import { Modal } from './Modal'

/** The value an attribute's field holds, typed by its definition ('' is unset). */
function attrValue(def: AttributeDef, raw: string | boolean): AttrValue | undefined | 'bad' {
  if (def.type === 'bool') return raw === true ? true : undefined
  const v = String(raw).trim()
  if (v === '') return undefined
  if (def.type === 'number') {
    const n = Number(v)
    return Number.isFinite(n) ? n : 'bad'
  }
  return v
}

/** Splits what the tags field holds: commas or spaces, each trimmed and lower-cased. */
export function parseTags(s: string): string[] {
  const out: string[] = []
  for (const t of s.split(/[,\s]+/)) {
    const v = t.trim().toLowerCase()
    if (v && !out.includes(v)) out.push(v)
  }
  return out
}

export function NewConversationDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (id: string) => void }) {
  const app = useContext(AppContext)
  const me = app?.me ?? null
  const team: Participant[] = assignable(app?.teammates ?? [])
  const defs = app?.attrDefs ?? []
  const [contactId, setContactId] = useState('')
  const [contactName, setContactName] = useState('')
  const [subject, setSubject] = useState('')
  const [text, setText] = useState('')
  const [priority, setPriority] = useState<Priority>('medium')
  const [tags, setTags] = useState('')
  const [attrs, setAttrs] = useState<Record<string, string | boolean>>({})
  const [assignee, setAssignee] = useState(me?.id ?? '') // me by default
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const submit = async (e: React.FormEvent) => {
    e.preventDefault()
    if (!contactId.trim()) return setError('Enter the contact’s id (your own id for this customer, e.g. their email)')
    if (!text.trim()) return setError('Write the first message')
    if (utf8Length(text) > MAX_TEXT_BYTES) return setError('The message is too long')
    const attributes: Record<string, AttrValue> = {}
    for (const def of defs) {
      if (!(def.key in attrs)) continue
      const v = attrValue(def, attrs[def.key])
      if (v === 'bad') return setError(`${def.key} must be a number`)
      if (v !== undefined) attributes[def.key] = v
    }
    setBusy(true)
    setError(null)
    try {
      const id = await api.CreateConversation({
        contactId: contactId.trim(),
        contactName: contactName.trim(),
        subject: subject.trim(),
        text,
        priority,
        tags: parseTags(tags),
        attributes: Object.keys(attributes).length ? attributes : undefined,
        assignee: assignee || undefined,
      })
      onCreated(id)
      onClose()
    } catch (err) {
      setError(describeError(err))
    } finally {
      setBusy(false)
    }
  }

  return (
    <Modal title="New conversation" onClose={onClose} testId="new-conversation-dialog" wide={defs.length > 0}>
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
        <div className="field-pair">
          <label className="field">
            <span>Priority</span>
            <select className="input" value={priority} onChange={(e) => setPriority(e.target.value as Priority)} data-testid="new-priority">
              {PRIORITIES.map((p) => (
                <option key={p} value={p}>
                  {p[0].toUpperCase() + p.slice(1)}
                </option>
              ))}
            </select>
          </label>
          <label className="field">
            <span>Assignee</span>
            <select className="input" value={assignee} onChange={(e) => setAssignee(e.target.value)} data-testid="new-assignee">
              {me && <option value={me.id}>{!me.name || me.name === 'You' ? 'Me' : `${me.name} (you)`}</option>}
              {team
                .filter((t) => t.id !== me?.id)
                .map((t) => (
                  <option key={t.id} value={t.id}>
                    {nameOf(t)}
                  </option>
                ))}
              <option value="">Unassigned</option>
            </select>
          </label>
        </div>
        <label className="field">
          <span>Tags</span>
          <input className="input" value={tags} onChange={(e) => setTags(e.target.value)} placeholder="billing, vip" data-testid="new-tags" />
        </label>
        {defs.length > 0 && (
          <fieldset className="field new-attributes" data-testid="new-attributes">
            <legend>Attributes</legend>
            <div className="attr-grid">
              {defs.map((def) => {
                const v = attrs[def.key]
                const set = (x: string | boolean) => setAttrs((a) => ({ ...a, [def.key]: x }))
                return (
                  <label key={def.key} className="field attr-field">
                    <span>{def.key}</span>
                    {def.type === 'bool' ? (
                      <input type="checkbox" checked={v === true} onChange={(e) => set(e.target.checked)} data-testid={`new-attr-${def.key}`} />
                    ) : def.type === 'enum' ? (
                      <select className="input small" value={typeof v === 'string' ? v : ''} onChange={(e) => set(e.target.value)} data-testid={`new-attr-${def.key}`}>
                        <option value="">—</option>
                        {(def.values ?? []).map((x) => (
                          <option key={x} value={x}>
                            {x}
                          </option>
                        ))}
                      </select>
                    ) : (
                      <input
                        className="input small"
                        inputMode={def.type === 'number' ? 'decimal' : undefined}
                        value={typeof v === 'string' ? v : ''}
                        onChange={(e) => set(e.target.value)}
                        data-testid={`new-attr-${def.key}`}
                      />
                    )}
                  </label>
                )
              })}
            </div>
          </fieldset>
        )}
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
