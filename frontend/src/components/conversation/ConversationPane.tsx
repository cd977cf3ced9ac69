import { forwardRef, memo, useCallback, useEffect, useImperativeHandle, useMemo, useRef, useState, useSyncExternalStore } from 'react'
import { api, normalizeError } from '../../api'
import type { Kind, Participant } from '../../api/types'
import { contactEmailBeside, contactName as contactNameOf, fullTime, isEndUser, nameIn, roleOfId } from '../../lib/format'
import { windowAttended } from '../../lib/hooks'
import { wakeLabel } from '../../lib/snooze'
import { firstUnread } from '../../lib/unread'
import { typingText } from '../../state/typing'
import { useConversation } from '../../state/useConversation'
import { useApp } from '../AppContext'
import { Avatar } from '../Avatar'
import { BotIcon, CheckCircleIcon, CircleIcon, PanelIcon, SnoozeIcon, ThreadIcon } from '../Icons'
import { SnoozeMenu } from '../SnoozeMenu'
import { Composer, type ComposerHandle } from './Composer'
import { DetailsPanel } from './DetailsPanel'
import { ThreadDialog } from './ThreadDialog'
import { Timeline } from './Timeline'

export const STALE_RESOLVE_MESSAGE = 'Not resolved: a new message arrived — read it first'

export interface ConversationHandle {
  focusReply(): void
  focusNote(): void
  toggleResolve(): void
  /** Opens the snooze menu (z). */
  snooze(): void
}

export interface ConversationPaneProps {
  id: string
  /** An item to scroll to and highlight (a search hit); `nonce` repeats a choice. */
  highlight?: { item: string; nonce: number } | null
  /** Opens another conversation (the contact's history in the details). */
  onOpenConversation?: (id: string) => void
}

const ACTION_LABELS: Record<string, string> = {
  resolve: 'Resolve',
  reopen: 'Reopen',
  snooze: 'Snooze',
  takeover: 'Taking over',
  priority: 'Priority change',
  assign: 'Assignment',
  join: 'Join',
  leave: 'Leave',
  thread: 'Thread',
  retry: 'Retry',
  discard: 'Discard',
}

const DETAILS_KEY = 'threadline.details'
function detailsPreference(): boolean {
  try {
    const v = localStorage.getItem(DETAILS_KEY)
    if (v === '1' || v === '0') return v === '1'
  } catch {
    // no storage
  }
  return typeof window === 'undefined' || window.innerWidth >= 1440
}

// memo: the inbox list and the sidebar change often; the open conversation need not re-render with them.
export const ConversationPane = memo(
  forwardRef<ConversationHandle, ConversationPaneProps>(function ConversationPane({ id, highlight, onOpenConversation }, ref) {
    const app = useApp()
    const conv = useConversation(id)
    const composer = useRef<ComposerHandle>(null)
    const [actionError, setActionError] = useState<{ text: string; code: string } | null>(null)
    const [threadOpen, setThreadOpen] = useState(false)
    const [snoozeOpen, setSnoozeOpen] = useState(false)
    const [busy, setBusy] = useState<Set<string>>(new Set())
    const [showDetails, setShowDetailsState] = useState(detailsPreference)
    const setShowDetails = (f: (s: boolean) => boolean) =>
      setShowDetailsState((s) => {
        const v = f(s)
        try {
          localStorage.setItem(DETAILS_KEY, v ? '1' : '0')
        } catch {
          // private mode: the choice lasts for this session only
        }
        return v
      })
    const [hl, setHl] = useState<{ item: string; nonce: number } | null>(null)
    const [attentionTick, setAttentionTick] = useState(0)
    useSyncExternalStore(app.typing.subscribe, app.typing.getVersion)

    const c = conv.detail?.conversation
    const row = conv.detail?.row
    const me = app.me

    useEffect(() => {
      setActionError(null)
      setThreadOpen(false)
      setHl(null)
    }, [id])

    // Names of the team: teammates and me (app), the assignee, joined participants, and item
    // authors. Every end user (the contact, or the visitor it was identified from) is the
    // conversation's contact and shows with its name (nameIn): one name for the whole timeline.
    const names = useMemo(() => {
      const m = new Map(app.names)
      const add = (p?: Participant | null) => {
        if (p?.id && p.name && !isEndUser(p) && !m.has(p.id)) m.set(p.id, p.name)
      }
      add(c?.assignee)
      c?.participants?.forEach(add)
      for (const it of conv.items) add(it.actor)
      return m
    }, [app.names, c, conv.items])
    const contact = c?.contact
    const email = c?.contactEmail
    const name = useCallback((p: Participant | null | undefined) => nameIn(p, contact, email, names), [contact, email, names])
    const nameOfId = useCallback((pid: string) => nameIn({ id: pid, role: roleOfId(pid) || 'agent' }, contact, email, names), [contact, email, names])

    /**
     * The one way the pane runs an action on the conversation: call the Go side; on success show the
     * result at once (the event is stored before the call returns: reload now, not after the
     * batched event) and the pending count; on failure return the error's message, normalised —
     * and for an action of the header or the details' selects (`inline` false), show it above the
     * timeline too. A stale resolve reloads, so the message that arrived is there to read.
     */
    const perform = useCallback(
      async (key: string, fn: () => Promise<unknown>, inline = false): Promise<string | null> => {
        if (!inline) setActionError(null)
        try {
          await fn()
          void conv.reload()
          app.refreshStatus()
          return null
        } catch (e) {
          const err = normalizeError(e)
          if (inline) return err.message
          if (key === 'resolve' && err.code === 'stale') {
            setActionError({ text: STALE_RESOLVE_MESSAGE, code: err.code })
            void conv.reload()
          } else {
            setActionError({ text: `${ACTION_LABELS[key] ?? 'Action'} failed: ${err.message}`, code: err.code })
          }
          return err.message
        }
      },
      [app, conv],
    )

    const toggleResolve = useCallback(() => {
      if (!c) return
      if (c.status === 'resolved') void perform('reopen', () => api.Reopen(id))
      else void perform('resolve', () => api.Resolve(id))
    }, [perform, c, id])

    useImperativeHandle(ref, () => ({
      focusReply: () => composer.current?.focus('reply'),
      focusNote: () => composer.current?.focus('note'),
      toggleResolve,
      snooze: () => setSnoozeOpen(true),
    }))

    // "New messages": where what was unread when the conversation opened begins. The seen mark is
    // taken once, at open (marking seen a moment later does not move the divider); rule 8 says
    // which items count (lib/unread, held to conv's vectors).
    const openMark = useRef<{ id: string; mark: number } | null>(null)
    if (c && row && me && openMark.current?.id !== id) {
      openMark.current = { id, mark: row.unread > 0 ? (c.seen?.[me.id] ?? 0) : Number.MAX_SAFE_INTEGER }
    }
    const markAtOpen = openMark.current?.id === id ? openMark.current.mark : Number.MAX_SAFE_INTEGER
    const dividerId = useMemo(
      () => (me && markAtOpen < Number.MAX_SAFE_INTEGER ? (firstUnread(conv.items, { id: me.id, role: me.role }, markAtOpen)?.id ?? null) : null),
      [conv.items, me, markAtOpen],
    )

    // Seen: mark when the conversation is on screen in a window the user is looking at, on open and
    // as new items arrive. Only when something is unread: a mark that would not advance is a no-op
    // event the relay would still have to answer.
    const marked = useRef('')
    useEffect(() => {
      const bump = () => setAttentionTick((t) => t + 1)
      window.addEventListener('focus', bump)
      document.addEventListener('visibilitychange', bump)
      return () => {
        window.removeEventListener('focus', bump)
        document.removeEventListener('visibilitychange', bump)
      }
    }, [])
    useEffect(() => {
      if (!row || row.unread <= 0) return
      const key = `${id}:${c?.lastItemSeq ?? 0}:${row.unread}`
      if (marked.current === key) return
      const t = setTimeout(() => {
        if (!windowAttended()) return
        marked.current = key
        api.MarkSeen(id).catch(() => {
          marked.current = ''
        })
      }, 200)
      return () => clearTimeout(t)
    }, [id, row, c?.lastItemSeq, conv.newItemsTick, attentionTick])

    // A search hit: load back to it, then highlight it.
    useEffect(() => {
      if (!highlight || conv.loading) return
      let live = true
      void conv.ensureItem(highlight.item).then((found) => {
        if (live && found) setHl({ item: highlight.item, nonce: highlight.nonce })
      })
      return () => {
        live = false
      }
      // eslint-disable-next-line react-hooks/exhaustive-deps
    }, [highlight?.item, highlight?.nonce, conv.loading, id])

    const retryOrDiscard = useCallback(
      async (kind: 'retry' | 'discard', eventId: string) => {
        setBusy((b) => new Set(b).add(eventId))
        await perform(kind, () => (kind === 'retry' ? api.Retry(eventId) : api.Discard(eventId)))
        setBusy((b) => {
          const n = new Set(b)
          n.delete(eventId)
          return n
        })
        void conv.reload()
      },
      [perform, conv],
    )
    const onRetry = useCallback((eid: string) => void retryOrDiscard('retry', eid), [retryOrDiscard])
    const onDiscard = useCallback((eid: string) => void retryOrDiscard('discard', eid), [retryOrDiscard])

    const onSending = useCallback(
      (kind: Kind, text: string) => conv.addLocal(kind, text, me ? { id: me.id, role: me.role, name: me.name } : { id: '', role: 'agent' }),
      [conv, me],
    )
    const onSettled = useCallback(
      (token: string, ok: boolean) => {
        conv.settleLocal(token, ok)
        if (ok) app.refreshStatus()
      },
      [conv, app],
    )

    if (conv.error && !c) {
      return (
        <div className="conv-pane-inner">
          <div className="pane-error" role="alert" data-testid="conversation-error">
            Could not open this conversation: {conv.error}
          </div>
        </div>
      )
    }
    if (!c || !row) {
      return (
        <div className="conv-pane-inner" aria-busy="true">
          <div className="pane-loading">Loading…</div>
        </div>
      )
    }

    const contactName = contactNameOf(c.contact, c.contactEmail)
    const contactEmail = contactEmailBeside(c.contact, c.contactEmail)
    const visitor = c.contact.role === 'visitor' || c.contact.id.startsWith('visitor:')
    const mine = me ? c.participants?.find((p) => p.id === me.id) : undefined
    const supervising = mine?.role === 'supervisor'
    const typers = app.typing.typers(id).map((p) => name(p))
    const resolved = c.status === 'resolved'
    // The row's status is the one shown at the clock: a passed snooze is open.
    const status = row.status ?? c.status
    const snoozed = status === 'snoozed'

    return (
      <div className="conv-pane-inner" data-testid="conversation" data-conv={id} data-status={status}>
          <header className="conv-header">
            <Avatar id={c.contact.id} name={contactName} size={32} />
            <div className="conv-title">
              <div className="conv-title-line">
                <h1 data-testid="conversation-contact">{contactName}</h1>
                {contactEmail && (
                  <span className="conv-email" data-testid="conversation-email" title={`Email of ${contactName}`}>
                    {contactEmail}
                  </span>
                )}
              </div>
              <div className="conv-sub">
                {c.subject && (
                  <span className="conv-subject" data-testid="conversation-subject" title={c.subject}>
                    {c.subject}
                  </span>
                )}
                <span className={`status-pill ${status}`} data-testid="conversation-status" title={snoozed && row.snoozedUntil ? `Snoozed until ${fullTime(row.snoozedUntil)}` : undefined}>
                  {resolved ? 'Resolved' : snoozed ? `Snoozed until ${row.snoozedUntil ? wakeLabel(row.snoozedUntil) : 'later'}` : 'Open'}
                </span>
                {c.assistantMode && (
                  <span className="status-pill bot" data-testid="conversation-bot" title="The bot answers until it hands the conversation off">
                    <BotIcon size={11} /> Bot
                  </span>
                )}
                {row.needsHuman && (
                  <span className="status-pill needs-human" data-testid="conversation-needs-human">
                    Needs a human
                  </span>
                )}
                <span className={`prio-label prio-${c.priority}`} data-testid="conversation-priority">
                  {c.priority}
                </span>
                {c.thread && (
                  <span className="thread-pill" data-testid="active-thread" title={`${c.thread.topic ? `${c.thread.topic} · ` : ''}Thread started ${fullTime(c.thread.startedAt)}`}>
                    <ThreadIcon size={12} /> {c.thread.topic || 'Thread'}
                  </span>
                )}
              </div>
            </div>
            <div className="conv-actions">
              <button type="button" className="btn" onClick={() => setThreadOpen(true)} data-testid="start-thread" title="Start a thread with a topic">
                Start thread
              </button>
              {c.thread && (
                <button type="button" className="btn" onClick={() => void perform('thread', () => api.EndThread(id, ''))} data-testid="end-thread">
                  End thread
                </button>
              )}
              {c.assistantMode && (
                <button type="button" className="btn" onClick={() => void perform('takeover', () => api.TakeOver(id))} data-testid="take-over-button" title="Take the conversation over from the bot: it becomes yours">
                  <BotIcon size={14} /> Take over
                </button>
              )}
              {snoozed ? (
                <button type="button" className="btn" onClick={() => void perform('reopen', () => api.Reopen(id))} data-testid="unsnooze-button" title="Back to the open views now">
                  <SnoozeIcon size={14} /> Unsnooze
                </button>
              ) : (
                !resolved && (
                  <button type="button" className="btn" onClick={() => setSnoozeOpen(true)} data-testid="snooze-button" title="Snooze (z)">
                    <SnoozeIcon size={14} /> Snooze
                  </button>
                )
              )}
              {resolved ? (
                <button type="button" className="btn" onClick={toggleResolve} data-testid="reopen-button" title="Reopen (e)">
                  <CircleIcon size={14} /> Reopen
                </button>
              ) : (
                <button type="button" className="btn primary" onClick={toggleResolve} data-testid="resolve-button" title="Resolve (e)">
                  <CheckCircleIcon size={14} /> Resolve
                </button>
              )}
              <button
                type="button"
                className={`btn details-toggle${showDetails ? ' on' : ''}`}
                aria-pressed={showDetails}
                title={showDetails ? 'Hide the details' : 'Show the details'}
                onClick={() => setShowDetails((s) => !s)}
                data-testid="toggle-details"
              >
                <PanelIcon size={14} /> Details
              </button>
            </div>
          </header>
          {actionError && (
            <div className={`inline-alert${actionError.code === 'stale' ? ' warn' : ''}`} role="alert" data-testid="action-error">
              <span>{actionError.text}</span>
              <button type="button" className="icon-btn small" aria-label="Dismiss" onClick={() => setActionError(null)}>
                ×
              </button>
            </div>
          )}
        <div className="conv-body">
        <div className={`conv-main${showDetails ? ' with-details' : ''}`}>
          <Timeline
            convId={id}
            items={conv.items}
            seen={conv.detail?.seen ?? []}
            meId={me?.id}
            name={name}
            nameOfId={nameOfId}
            hasOlder={conv.hasOlder}
            loadingOlder={conv.loadingOlder}
            loading={conv.loading}
            newItemsTick={conv.newItemsTick}
            typingText={typingText(typers)}
            unreadFromId={dividerId}
            highlightId={hl?.item ?? null}
            highlightNonce={hl?.nonce}
            onLoadOlder={() => void conv.loadOlder()}
            onRetry={onRetry}
            onDiscard={onDiscard}
            busyIds={busy}
          />
          <Composer
            ref={composer}
            convId={id}
            contactName={contactName}
            canReply={!supervising}
            onSending={onSending}
            onSettled={onSettled}
            replyVars={{ contactName: c.contact?.name, contactEmail: c.contactEmail, agentName: me?.name, subject: c.subject }}
          />
        </div>
        {showDetails && (
          <DetailsPanel
            id={id}
            c={c}
            row={row}
            me={me}
            teammates={app.teammates}
            attrDefs={app.attrDefs}
            name={name}
            contactName={contactName}
            contactEmail={contactEmail}
            visitor={visitor}
            mine={mine}
            perform={perform}
            onOpenConversation={onOpenConversation}
            onClose={() => setShowDetails(() => false)}
          />
        )}
        </div>
        {snoozeOpen && (
          <SnoozeMenu
            what="this conversation"
            onClose={() => setSnoozeOpen(false)}
            onChoose={(until) => perform('snooze', () => api.Snooze(id, until))}
          />
        )}
        {threadOpen && (
          <ThreadDialog
            active={c.thread ? c.thread.topic : null}
            onClose={() => setThreadOpen(false)}
            onStart={(topic) => perform('thread', () => api.StartThread(id, topic), true)}
          />
        )}
      </div>
    )
  }),
)
