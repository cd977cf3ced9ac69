import { memo } from 'react'
import type { Row } from '../api/types'
import { contactEmailBeside, contactName, fullTime, nameOf, relativeTime } from '../lib/format'
import { wakeLabel } from '../lib/snooze'
import { Avatar } from './Avatar'
import { AlertIcon, BotIcon, CheckIcon, ClockIcon, SnoozeIcon } from './Icons'

export interface InboxRowProps {
  row: Row
  index: number
  top: number
  height: number
  active: boolean
  selected: boolean
  /** Chosen for a bulk action. */
  checked?: boolean
  meId?: string
  typing?: string // name of someone typing (the contact's, for the contact or its visitor)
  now: number
  /** A click: with Shift, Ctrl or Cmd it chooses rows for a bulk action instead of opening. */
  onOpen: (row: Row, index: number, mods: { shift: boolean; toggle: boolean }) => void
}

export const InboxRow = memo(function InboxRow({ row, index, top, height, active, selected, checked, meId, typing, now, onOpen }: InboxRowProps) {
  const unread = row.unread > 0
  const contact = contactName(row.contact, row.contactEmail)
  const email = contactEmailBeside(row.contact, row.contactEmail)
  const byMe = !!meId && row.previewBy?.id === meId
  const preview = row.preview ? (byMe ? `You: ${row.preview}` : row.preview) : row.subject || 'No messages yet'
  const tags = row.tags ?? []
  return (
    <div
      role="option"
      aria-selected={selected}
      id={`inbox-row-${index}`}
      data-testid="inbox-row"
      data-conv={row.id}
      data-index={index}
      data-unread={row.unread}
      data-status={row.status}
      data-checked={checked ? 'true' : undefined}
      className={'inbox-row' + (unread ? ' unread' : '') + (active ? ' active' : '') + (selected ? ' selected' : '') + (checked ? ' checked' : '')}
      style={{ transform: `translateY(${top}px)`, height }}
      onMouseDown={(e) => {
        if (e.shiftKey) e.preventDefault() // no text selection on a Shift-click
      }}
      onClick={(e) => onOpen(row, index, { shift: e.shiftKey, toggle: e.ctrlKey || e.metaKey })}
    >
      {checked && (
        <span className="row-check" data-testid="row-check" aria-hidden="true">
          <CheckIcon size={12} />
        </span>
      )}
      <span className={`prio-bar prio-${row.priority}`} title={`Priority: ${row.priority}`} data-testid="row-priority" data-priority={row.priority} />
      <div className="inbox-row-main">
        <div className="inbox-row-line1">
          <span className="inbox-row-contact" data-testid="row-contact" title={email ? `${contact} <${email}>` : contact}>
            {contact}
          </span>
          {row.status === 'resolved' && <span className="status-pill resolved">Resolved</span>}
          {row.bot && (
            <span className="status-pill bot" data-testid="row-bot" title="The bot answers this conversation until it hands it off">
              <BotIcon size={11} /> Bot
            </span>
          )}
          {row.needsHuman && (
            <span className="status-pill needs-human" data-testid="row-needs-human" title="The bot handed it off: no one on the team has replied or taken it yet">
              Needs a human
            </span>
          )}
          {row.status === 'snoozed' && row.snoozedUntil ? (
            <span className="inbox-row-time wake" data-testid="row-wakes" title={`Snoozed until ${fullTime(row.snoozedUntil)}`}>
              <SnoozeIcon size={11} /> {wakeLabel(row.snoozedUntil, now)}
            </span>
          ) : (
            <span className="inbox-row-time" title={fullTime(row.lastActivityAt)}>
              {relativeTime(row.lastActivityAt, now)}
            </span>
          )}
        </div>
        <div className="inbox-row-line2">
          {typing ? (
            <span className="inbox-row-preview typing">{typing} is typing…</span>
          ) : (
            <span className="inbox-row-preview" data-testid="row-preview">
              {preview}
            </span>
          )}
          {unread && (
            <span className="unread-badge" data-testid="unread-badge" aria-label={`${row.unread} unread`}>
              {row.unread > 99 ? '99+' : row.unread}
            </span>
          )}
        </div>
        <div className="inbox-row-line3">
          <div className="inbox-row-labels">
            {row.priority !== 'medium' && (
              <span className={`prio-label prio-${row.priority}`}>{row.priority}</span>
            )}
            {row.inThread && row.thread && (
              <span className="row-thread" title={`Active thread: ${row.thread}`}>
                {row.thread}
              </span>
            )}
            {tags.slice(0, 3).map((t) => (
              <span key={t} className="chip" data-testid="row-tag">
                {t}
              </span>
            ))}
            {tags.length > 3 && <span className="chip more">+{tags.length - 3}</span>}
          </div>
          {row.failed > 0 && (
            <span className="row-failed" title={`${row.failed} failed to send`}>
              <AlertIcon size={13} /> {row.failed}
            </span>
          )}
          {row.failed === 0 && row.pending > 0 && (
            <span className="row-pending" title={`${row.pending} waiting to send`}>
              <ClockIcon size={13} />
            </span>
          )}
          {row.assignee ? (
            <Avatar id={row.assignee.id} name={nameOf(row.assignee)} size={18} title={`Assigned to ${nameOf(row.assignee)}`} />
          ) : (
            <span className="avatar empty" title="Unassigned" aria-label="Unassigned" />
          )}
        </div>
      </div>
    </div>
  )
})

export function PlaceholderRow({ index, top, height }: { index: number; top: number; height: number }) {
  return (
    <div className="inbox-row placeholder" data-testid="inbox-row-placeholder" data-index={index} style={{ transform: `translateY(${top}px)`, height }}>
      <div className="inbox-row-main">
        <span className="skeleton" style={{ width: '40%' }} />
        <span className="skeleton" style={{ width: '80%' }} />
      </div>
    </div>
  )
}
