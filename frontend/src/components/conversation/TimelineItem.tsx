import { memo } from 'react'
import type { Item, Participant } from '../../api/types'
import { clockTime, fullTime } from '../../lib/format'
import { isBot } from '../../lib/team'
import { AlertIcon, BotIcon, CheckIcon, ClockIcon, LockIcon, RetryIcon } from '../Icons'
import { attachmentsOf } from '../../api/files'
import { AttachmentList } from './Attachments'

export type NameFn = (p: Participant | null | undefined) => string

const STALE_RESOLVE = 'Not resolved: a new message arrived — read it first'

function str(v: unknown): string {
  return typeof v === 'string' ? v : ''
}
function list(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}
function participant(v: unknown): Participant | null {
  if (v && typeof v === 'object' && typeof (v as Participant).id === 'string') return v as Participant
  return null
}
function value(v: unknown): string {
  if (v === null || v === undefined) return '(cleared)'
  if (typeof v === 'boolean') return v ? 'yes' : 'no'
  return String(v)
}

/** The one line a lifecycle item shows ("Ana resolved the conversation"). */
export function describeLifecycle(item: Item, name: NameFn): string {
  const d = (item.data ?? {}) as Record<string, unknown>
  const system = item.actor?.role === 'system' || item.actor?.id === 'system'
  const who = item.mine ? 'You' : name(item.actor)
  switch (item.kind) {
    case 'conversation.created':
      return system ? 'Conversation created' : `${who} started the conversation`
    case 'status.changed':
      if (d.status === 'resolved') return `${who} resolved the conversation`
      if (d.status === 'snoozed') return typeof d.until === 'number' ? `${who} snoozed the conversation until ${fullTime(d.until)}` : `${who} snoozed the conversation`
      if (system) return 'Reopened by a new message'
      return `${who} reopened the conversation`
    case 'priority.changed':
      return `${who} set priority to ${str(d.priority) || 'medium'}`
    case 'tags.changed': {
      const add = list(d.add)
      const remove = list(d.remove)
      const parts: string[] = []
      if (add.length) parts.push(`added ${add.length === 1 ? 'tag' : 'tags'} ${add.join(', ')}`)
      if (remove.length) parts.push(`removed ${remove.length === 1 ? 'tag' : 'tags'} ${remove.join(', ')}`)
      return `${who} ${parts.join(' and ') || 'changed tags'}`
    }
    case 'assignee.changed': {
      const to = participant(d.assignee)
      if (!to) return `${who} unassigned the conversation`
      if (to.id === item.actor?.id) return `${who} took the conversation`
      return `${who} assigned the conversation to ${name(to)}`
    }
    case 'participant.joined': {
      const p = participant(d.participant)
      const as = p?.role === 'supervisor' ? ' as supervisor' : ''
      if (p && p.id !== item.actor?.id) return `${who} added ${name(p)}${as}`
      return `${who} joined${as}`
    }
    case 'participant.left': {
      const p = participant(d.participant)
      if (p && p.id !== item.actor?.id) return `${who} removed ${name(p)}`
      return `${who} left`
    }
    case 'attributes.set': {
      const values = (d.values ?? {}) as Record<string, unknown>
      const parts = Object.keys(values)
        .sort()
        .map((k) => `${k} = ${value(values[k])}`)
      return `${who} set ${parts.join(', ') || 'attributes'}`
    }
    case 'assistant.handed_off': {
      const to = participant(d.to)
      return to ? `Handed off to ${name(to)}` : `${who} handed off to the team`
    }
    case 'contact.identified': {
      const c = participant(d.contact)
      return c ? `Visitor identified as ${name(c)}` : 'Visitor identified'
    }
    default:
      return `${who}: ${item.kind}`
  }
}

/** What a failed item says. */
export function failureText(item: Item): string {
  const err = item.error
  if (item.kind === 'status.changed' && err?.code === 'stale') return STALE_RESOLVE
  if (!err) return 'Not sent'
  return err.message || err.code
}

export interface ItemProps {
  item: Item
  name: NameFn
  highlighted: boolean
  seenBy?: string[]
  onRetry: (id: string) => void
  onDiscard: (id: string) => void
  busy?: boolean
}

function StateMark({ item, quiet }: { item: Item; quiet?: boolean }) {
  if (!item.mine || !item.state) return null
  if (quiet && item.state === 'sent') return null // lifecycle lines: only say when not done
  if (item.state === 'pending')
    return (
      <span className="item-state pending" data-testid="item-state" data-state="pending" title="Waiting to be sent">
        <ClockIcon size={12} /> Pending
      </span>
    )
  if (item.state === 'sent')
    return (
      <span className="item-state sent" data-testid="item-state" data-state="sent" title="Sent">
        <CheckIcon size={12} />
      </span>
    )
  return (
    <span className="item-state failed" data-testid="item-state" data-state="failed">
      <AlertIcon size={12} /> Failed
    </span>
  )
}

function Failure({ item, onRetry, onDiscard, busy }: Pick<ItemProps, 'item' | 'onRetry' | 'onDiscard' | 'busy'>) {
  if (item.state !== 'failed') return null
  return (
    <div className="item-failure" role="alert" data-testid="item-failure">
      <span className="item-failure-text" data-testid="item-error">
        {failureText(item)}
      </span>
      <button type="button" className="btn tiny" disabled={busy} onClick={() => onRetry(item.id)} data-testid="retry-button">
        <RetryIcon size={12} /> Retry
      </button>
      <button type="button" className="btn tiny ghost" disabled={busy} onClick={() => onDiscard(item.id)} data-testid="discard-button">
        Discard
      </button>
    </div>
  )
}

function SeenBy({ names }: { names?: string[] }) {
  if (!names || names.length === 0) return null
  return (
    <div className="seen-by" data-testid="seen-by">
      Seen by {names.join(', ')}
    </div>
  )
}

/** A lifecycle line's time, shown (the full time in its tooltip). */
function EventTime({ at }: { at: number }) {
  if (!at) return null
  return (
    <time className="tl-event-time" data-testid="event-time" dateTime={new Date(at).toISOString()} title={fullTime(at)}>
      {clockTime(at)}
    </time>
  )
}

export const TimelineItem = memo(function TimelineItem({ item, name, highlighted, seenBy, onRetry, onDiscard, busy }: ItemProps) {
  const common = {
    'data-item': item.id,
    'data-kind': item.kind,
    'data-state': item.state || undefined,
    'data-seq': item.seq,
    'data-highlighted': highlighted ? 'true' : undefined,
  }
  switch (item.kind) {
    case 'message.sent':
    case 'note.added': {
      const note = item.kind === 'note.added'
      const fromEndUser = item.actor?.role === 'contact' || item.actor?.role === 'visitor'
      const side = fromEndUser ? 'left' : 'right'
      const author = item.mine ? 'You' : name(item.actor)
      return (
        <div
          className={`tl-item tl-msg ${side}${note ? ' note' : ''}${item.state === 'failed' ? ' failed' : ''}${highlighted ? ' highlighted' : ''}`}
          data-testid={note ? 'timeline-note' : 'timeline-message'}
          {...common}
        >
          <div className="tl-meta">
            {note && (
              <span className="note-label">
                <LockIcon size={12} /> Internal note
              </span>
            )}
            <span className="tl-author">{author}</span>
            {isBot(item.actor) && (
              <span className="bot-badge" data-testid="bot-badge" title="An automated assistant">
                <BotIcon size={11} /> Bot
              </span>
            )}
            <time className="tl-time" dateTime={new Date(item.at || 0).toISOString()} title={fullTime(item.at)}>
              {clockTime(item.at)}
            </time>
            <StateMark item={item} />
          </div>
          {(item.text || attachmentsOf(item.data).length === 0) && (
            <div className="tl-bubble" data-testid="item-text">
              {item.text}
            </div>
          )}
          <AttachmentList files={attachmentsOf(item.data)} />
          <Failure item={item} onRetry={onRetry} onDiscard={onDiscard} busy={busy} />
          <SeenBy names={seenBy} />
        </div>
      )
    }
    case 'thread.started':
    case 'thread.ended': {
      const started = item.kind === 'thread.started'
      const label = started ? 'Thread started' : 'Thread ended'
      return (
        <div
          className={`tl-item tl-separator ${started ? 'start' : 'end'}${highlighted ? ' highlighted' : ''}`}
          data-testid="thread-separator"
          data-thread={item.thread}
          role="separator"
          {...common}
        >
          <span className="tl-separator-label" title={item.topic ? `${item.topic} · ${fullTime(item.at)}` : fullTime(item.at)}>
            {label}
            {item.topic ? ` · ${item.topic}` : ''}
          </span>
          <EventTime at={item.at} />
          <StateMark item={item} quiet />
          <Failure item={item} onRetry={onRetry} onDiscard={onDiscard} busy={busy} />
        </div>
      )
    }
    case 'seen.marked':
      return null
    default:
      return (
        <div className={`tl-item tl-event${item.state === 'failed' ? ' failed' : ''}`} data-testid="timeline-event" {...common}>
          <span className="tl-event-text" title={fullTime(item.at)}>
            {describeLifecycle(item, name)}
          </span>
          <EventTime at={item.at} />
          <StateMark item={item} quiet />
          <Failure item={item} onRetry={onRetry} onDiscard={onDiscard} busy={busy} />
        </div>
      )
  }
})
