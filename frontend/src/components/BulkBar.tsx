import { useState } from 'react'
import type { BulkAction, Participant } from '../api/types'
import { nameOf } from '../lib/format'
import { CloseIcon } from './Icons'

export interface BulkBarProps {
  count: number
  me?: Participant | null
  /** Who can be assigned (the bot is not offered). */
  teammates: Participant[]
  busy: boolean
  message: string | null
  onAction: (a: BulkAction) => void
  onSnooze: () => void
  onClear: () => void
}

/** What to do with the chosen rows: resolve, assign, tag or snooze them at once. */
export function BulkBar({ count, me, teammates, busy, message, onAction, onSnooze, onClear }: BulkBarProps) {
  const [tag, setTag] = useState('')
  return (
    <div className="bulk-bar" role="toolbar" aria-label={`${count} conversations chosen`} data-testid="bulk-bar">
      <span className="bulk-count" data-testid="bulk-count">
        {count} chosen
      </span>
      <button type="button" className="btn small primary" disabled={busy} onClick={() => onAction({ kind: 'resolve' })} data-testid="bulk-resolve">
        Resolve
      </button>
      <select
        className="input tiny"
        aria-label="Assign the chosen conversations"
        value=""
        disabled={busy}
        onChange={(e) => {
          const v = e.target.value
          if (v) onAction({ kind: 'assign', assignee: v === '-' ? '' : v })
        }}
        data-testid="bulk-assign"
      >
        <option value="">Assign…</option>
        {me && <option value={me.id}>Me</option>}
        {teammates
          .filter((t) => t.id !== me?.id)
          .map((t) => (
            <option key={t.id} value={t.id}>
              {nameOf(t)}
            </option>
          ))}
        <option value="-">Unassigned</option>
      </select>
      <form
        className="bulk-tag"
        onSubmit={(e) => {
          e.preventDefault()
          const t = tag.trim()
          if (!t) return
          onAction({ kind: 'tag', tag: t })
          setTag('')
        }}
      >
        <input className="input tiny" placeholder="Add tag" aria-label="Tag the chosen conversations" value={tag} onChange={(e) => setTag(e.target.value)} data-testid="bulk-tag-input" />
      </form>
      <button type="button" className="btn small" disabled={busy} onClick={onSnooze} data-testid="bulk-snooze" title="Snooze (z)">
        Snooze…
      </button>
      <span className="spacer" />
      {message && (
        <span className="bulk-message" role="status" data-testid="bulk-message">
          {message}
        </span>
      )}
      <button type="button" className="icon-btn small" aria-label="Clear the choice" title="Clear the choice (Esc)" onClick={onClear} data-testid="bulk-clear">
        <CloseIcon size={12} />
      </button>
    </div>
  )
}
