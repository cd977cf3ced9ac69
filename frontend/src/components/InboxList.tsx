// A hand-written windowed list: fixed row height, only the rows on screen (plus overscan) are in
// the DOM, rows come from an InboxWindow that pages the Go side as the user scrolls.
import { useCallback, useEffect, useLayoutEffect, useRef, useState, useSyncExternalStore } from 'react'
import type { Participant, Row } from '../api/types'
import type { InboxWindow } from '../state/inboxWindow'
import { InboxRow, PlaceholderRow } from './InboxRow'
import { useNow } from '../lib/hooks'
import { nameIn } from '../lib/format'

export const ROW_HEIGHT = 72
const OVERSCAN = 6

export interface InboxListProps {
  win: InboxWindow
  activeIndex: number
  selectedId: string | null
  /** Rows chosen for a bulk action. */
  checked?: ReadonlySet<string>
  meId?: string
  /** Conversation id → someone typing there. */
  typingByConv?: Map<string, Participant>
  /** Participant id → display name (the team). */
  names?: Map<string, string>
  onOpen: (row: Row, index: number, mods: { shift: boolean; toggle: boolean }) => void
  /** Height of the viewport when it cannot be measured (tests: jsdom has no layout). */
  fallbackHeight?: number
  emptyText?: string
}

export function InboxList({ win, activeIndex, selectedId, checked, meId, typingByConv, names, onOpen, fallbackHeight = 720, emptyText }: InboxListProps) {
  useSyncExternalStore(win.subscribe, win.getVersion)
  const ref = useRef<HTMLDivElement>(null)
  const [scrollTop, setScrollTop] = useState(0)
  const [height, setHeight] = useState(fallbackHeight)
  const now = useNow(30_000)

  useLayoutEffect(() => {
    const el = ref.current
    if (!el) return
    const measure = () => setHeight(el.clientHeight || fallbackHeight)
    measure()
    if (typeof ResizeObserver === 'undefined') return
    const ro = new ResizeObserver(measure)
    ro.observe(el)
    return () => ro.disconnect()
  }, [fallbackHeight])

  // A new query starts at the top.
  useLayoutEffect(() => {
    if (ref.current) ref.current.scrollTop = 0
    setScrollTop(0)
  }, [win])

  const total = win.total
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT))
  const visible = Math.ceil(height / ROW_HEIGHT)
  const last = Math.min(Math.max(0, total - 1), first + visible)

  useEffect(() => {
    win.setRange(first, first + visible)
  }, [win, first, visible])

  // Keep the keyboard cursor on screen.
  useEffect(() => {
    const el = ref.current
    if (!el || activeIndex < 0) return
    const top = activeIndex * ROW_HEIGHT
    if (top < el.scrollTop) el.scrollTop = top
    else if (top + ROW_HEIGHT > el.scrollTop + height) el.scrollTop = top + ROW_HEIGHT - height
    setScrollTop(el.scrollTop)
  }, [activeIndex, height])

  const onScroll = useCallback(() => {
    if (ref.current) setScrollTop(ref.current.scrollTop)
  }, [])

  const from = Math.max(0, first - OVERSCAN)
  const to = Math.min(total - 1, last + OVERSCAN)
  const items = []
  for (let i = from; i <= to; i++) {
    const row = win.rowAt(i)
    const top = i * ROW_HEIGHT
    // The contact typing (or the visitor it was) shows with the row's contact name.
    const typer = row ? typingByConv?.get(row.id) : undefined
    items.push(
      row ? (
        <InboxRow
          key={row.id}
          row={row}
          index={i}
          top={top}
          height={ROW_HEIGHT}
          active={i === activeIndex}
          selected={row.id === selectedId}
          checked={checked?.has(row.id)}
          meId={meId}
          typing={typer ? nameIn(typer, row.contact, row.contactEmail, names) : undefined}
          now={now}
          onOpen={onOpen}
        />
      ) : (
        <PlaceholderRow key={`p${i}`} index={i} top={top} height={ROW_HEIGHT} />
      ),
    )
  }

  return (
    <div
      ref={ref}
      className="inbox-list"
      data-testid="inbox-list"
      data-total={total}
      role="listbox"
      aria-label="Conversations"
      aria-multiselectable={checked && checked.size > 0 ? true : undefined}
      aria-activedescendant={activeIndex >= 0 ? `inbox-row-${activeIndex}` : undefined}
      tabIndex={-1}
      onScroll={onScroll}
    >
      {win.loaded && total === 0 && !win.error && (
        <div className="list-empty" data-testid="inbox-empty">
          {emptyText ?? 'No conversations here.'}
        </div>
      )}
      {win.error && (
        <div className="list-error" role="alert">
          Could not load the inbox: {win.error}
        </div>
      )}
      <div className="inbox-list-spacer" style={{ height: total * ROW_HEIGHT }}>
        {items}
      </div>
    </div>
  )
}
