import { Fragment, startTransition, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react'
import type { Item, SeenMark } from '../../api/types'
import { TimelineItem, type NameFn } from './TimelineItem'

export interface TimelineProps {
  convId: string
  items: Item[]
  seen: SeenMark[]
  meId?: string
  name: NameFn
  nameOfId: (id: string) => string
  hasOlder: boolean
  loadingOlder: boolean
  loading: boolean
  newItemsTick: number
  typingText: string
  /** The first item that was unread when the conversation opened: a "New messages" divider goes
   * above it. */
  unreadFromId?: string | null
  highlightId: string | null
  /** Changes each time the user chooses the highlighted item again. */
  highlightNonce?: number
  onLoadOlder: () => void
  onRetry: (id: string) => void
  onDiscard: (id: string) => void
  busyIds: Set<string>
}

/** Which items show "Seen by …": each other participant's mark sits under the last message or note
 * it covers. */
export function seenByItem(items: Item[], seen: SeenMark[], meId: string | undefined, nameOfId: (id: string) => string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  const countable = items.filter((i) => i.seq > 0 && (i.kind === 'message.sent' || i.kind === 'note.added'))
  for (const m of seen) {
    if (!m || m.participant === meId || m.participant === 'system' || !(m.upTo > 0)) continue
    // A contact or visitor never receives notes: their mark says nothing about them.
    const endUser = /^(contact|visitor):/.test(m.participant)
    let target: Item | undefined
    for (let k = countable.length - 1; k >= 0; k--) {
      const it = countable[k]
      if (endUser && it.kind === 'note.added') continue
      if (it.seq <= m.upTo) {
        // "Seen by Maria" under Maria's own message says nothing: take the last covered item
        // someone else made.
        if (it.actor?.id === m.participant) continue
        target = it
        break
      }
    }
    if (!target) continue
    const list = out.get(target.id) ?? []
    list.push(nameOfId(m.participant))
    out.set(target.id, list)
  }
  return out
}

/** Items the first paint of an opened conversation shows (more than a tall window holds): the rest
 * of the loaded page is rendered just after that paint, so the newest item shows sooner. */
export const FIRST_PAINT_ITEMS = 24

/** Several attribute edits in a row (one author, none pending or failed) read as one line: the
 * first edit's item with every key the run set (a later value wins) and the last edit's time. A
 * run breaks at `breakAt` (the "New messages" divider's item). */
export function mergeAttributeRuns(items: Item[], breakAt?: string | null): Item[] {
  const settled = (it: Item) => it.kind === 'attributes.set' && (!it.state || it.state === 'sent')
  const out: Item[] = []
  for (const it of items) {
    const prev = out[out.length - 1]
    if (prev && settled(prev) && settled(it) && it.id !== breakAt && prev.actor?.id === it.actor?.id && prev.mine === it.mine) {
      const pv = ((prev.data ?? {}) as { values?: Record<string, unknown> }).values ?? {}
      const nv = ((it.data ?? {}) as { values?: Record<string, unknown> }).values ?? {}
      out[out.length - 1] = { ...prev, at: it.at, seq: it.seq, data: { ...((prev.data ?? {}) as object), values: { ...pv, ...nv } } }
      continue
    }
    out.push(it)
  }
  return out
}

export function Timeline(props: TimelineProps) {
  const { items, seen, meId, name, nameOfId, hasOlder, loadingOlder, loading, newItemsTick, typingText, unreadFromId, highlightId, highlightNonce, onLoadOlder, onRetry, onDiscard, busyIds } = props
  const ref = useRef<HTMLDivElement>(null)
  const atBottom = useRef(true)
  const prevFirst = useRef('')
  const prevHeight = useRef(0)
  const [showJump, setShowJump] = useState(false)
  // Until the first paint is done only the newest items are rendered (none is left out when a
  // search hit is to be shown).
  const [complete, setComplete] = useState(items.length <= FIRST_PAINT_ITEMS)
  const all = complete || !!highlightId
  useEffect(() => {
    if (complete) return
    let timer: ReturnType<typeof setTimeout> | undefined
    // After the first paint (a timeout queued from a frame callback runs after that frame), as a
    // transition: its rendering yields to the frames that follow.
    if (typeof requestAnimationFrame !== 'function') {
      setComplete(true)
      return
    }
    const frame = requestAnimationFrame(() => {
      timer = setTimeout(() => startTransition(() => setComplete(true)), 0)
    })
    return () => {
      cancelAnimationFrame(frame)
      if (timer) clearTimeout(timer)
    }
  }, [complete])
  const shown = useMemo(() => mergeAttributeRuns(all ? items : items.slice(-FIRST_PAINT_ITEMS), unreadFromId), [all, items, unreadFromId])
  const firstId = shown.length ? shown[0].id : ''

  const seenMap = useMemo(() => seenByItem(items, seen, meId, nameOfId), [items, seen, meId, nameOfId])

  // Older items were prepended: keep what the user was looking at in place. (The rest of the
  // first page, rendered after the first paint, is prepended too: at the bottom it stays there.)
  useLayoutEffect(() => {
    const el = ref.current
    if (!el) return
    if (prevFirst.current && firstId !== prevFirst.current && !atBottom.current) {
      el.scrollTop += el.scrollHeight - prevHeight.current
    }
    prevFirst.current = firstId
    prevHeight.current = el.scrollHeight
  })
  useLayoutEffect(() => {
    const el = ref.current
    if (!el || !all || !atBottom.current) return
    el.scrollTop = el.scrollHeight
    prevHeight.current = el.scrollHeight
  }, [all])

  // New items at the bottom: follow them when the user was at the bottom; else offer a jump.
  useLayoutEffect(() => {
    const el = ref.current
    if (!el) return
    if (atBottom.current) {
      el.scrollTop = el.scrollHeight
      prevHeight.current = el.scrollHeight
    } else if (newItemsTick > 0) setShowJump(true)
  }, [newItemsTick, typingText])

  // Opening a conversation starts at the bottom.
  useLayoutEffect(() => {
    atBottom.current = true
    setShowJump(false)
  }, [props.convId])

  // A highlighted item (a search hit) is scrolled to once, when it is first on the page.
  const scrolledTo = useRef<string | null>(null)
  useEffect(() => {
    if (!highlightId) {
      scrolledTo.current = null
      return
    }
    const key = `${highlightId}#${highlightNonce ?? 0}`
    if (scrolledTo.current === key) return
    const el = ref.current?.querySelector<HTMLElement>(`[data-item="${CSS.escape(highlightId)}"]`)
    if (el) {
      scrolledTo.current = key
      atBottom.current = false
      el.scrollIntoView?.({ block: 'center' })
    }
  }, [highlightId, highlightNonce, items, all])

  const onScroll = useCallback(() => {
    const el = ref.current
    if (!el) return
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40
    if (atBottom.current) setShowJump(false)
    if (el.scrollTop < 120 && hasOlder && !loadingOlder && all) onLoadOlder()
  }, [hasOlder, loadingOlder, onLoadOlder, all])

  const jump = () => {
    const el = ref.current
    if (!el) return
    el.scrollTop = el.scrollHeight
    atBottom.current = true
    setShowJump(false)
  }

  return (
    <div className="timeline-wrap">
      <div ref={ref} className="timeline" data-testid="timeline" onScroll={onScroll} aria-live="polite" aria-busy={loading}>
        {hasOlder ? (
          <div className="tl-older">
            <button type="button" className="btn tiny ghost" onClick={onLoadOlder} disabled={loadingOlder} data-testid="load-older">
              {loadingOlder ? 'Loading…' : 'Load earlier'}
            </button>
          </div>
        ) : (
          !loading && all && items.length > 0 && <div className="tl-start">Beginning of the conversation</div>
        )}
        {shown.map((it) => (
          <Fragment key={it.id}>
            {it.id === unreadFromId && (
              <div className="tl-new-divider" role="separator" aria-label="New messages" data-testid="new-messages-divider">
                <span>New messages</span>
              </div>
            )}
            <TimelineItem
              item={it}
              name={name}
              highlighted={it.id === highlightId}
              seenBy={seenMap.get(it.id)}
              onRetry={onRetry}
              onDiscard={onDiscard}
              busy={busyIds.has(it.id)}
            />
          </Fragment>
        ))}
        <div className="typing-indicator" data-testid="typing-indicator" aria-live="polite">
          {typingText && (
            <>
              <span className="typing-dots" aria-hidden="true">
                <i />
                <i />
                <i />
              </span>
              {typingText}
            </>
          )}
        </div>
      </div>
      {showJump && (
        <button type="button" className="jump-latest" onClick={jump} data-testid="jump-latest">
          New messages ↓
        </button>
      )}
    </div>
  )
}
