import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import { on } from '../../api'
import { repliesApi } from '../../api/replies'
import { EventInboxChanged } from '../../events'
import '../replies.css'
import { fillVariables, matchReplies, pickerQuery, type ReplyVars, type SavedReply } from '../../lib/replies'

export interface ReplyPicker {
  /** The picker's list, to render above the composer's input (null while closed). */
  element: React.ReactNode
  /** Handles the composer input's keys while the picker is open; true when it took the key. */
  onKeyDown(e: React.KeyboardEvent<HTMLTextAreaElement>): boolean
  open: boolean
}

/**
 * The composer's saved-replies picker: "/" at the start of the text opens it, what follows
 * filters the team's replies (fuzzy: shortcut, title, text); ↑/↓ choose, Enter or a click
 * inserts the reply with its variables filled in (in place of the "/…" typed), Esc closes it
 * and leaves the text as typed.
 */
export function useReplyPicker(text: string, vars: ReplyVars, insert: (text: string) => void): ReplyPicker {
  const query = pickerQuery(text)
  const [dismissed, setDismissed] = useState(false)
  const [replies, setReplies] = useState<SavedReply[] | null>(null)
  const [sel, setSel] = useState(0)
  const listRef = useRef<HTMLUListElement>(null)
  const asking = query !== null

  // A text that no longer starts with "/" re-arms the picker.
  useEffect(() => {
    if (!asking) setDismissed(false)
  }, [asking])

  // The replies are read when the picker opens, and again when anything changes meanwhile (a
  // teammate's save arriving, an outcome).
  const open = asking && !dismissed
  useEffect(() => {
    if (!open) return
    let live = true
    const load = () =>
      repliesApi
        .Replies()
        .then((rs) => live && setReplies(rs))
        .catch(() => live && setReplies((cur) => cur ?? []))
    void load()
    const off = on(EventInboxChanged, () => void load())
    return () => {
      live = false
      off()
    }
  }, [open])

  const matches = useMemo(() => (open && replies ? matchReplies(query ?? '', replies) : []), [open, replies, query])
  useEffect(() => setSel(0), [query])
  const current = Math.min(sel, Math.max(matches.length - 1, 0))

  useEffect(() => {
    listRef.current?.querySelector<HTMLElement>(`[data-index="${current}"]`)?.scrollIntoView?.({ block: 'nearest' })
  }, [current])

  const choose = useCallback(
    (r: SavedReply) => {
      insert(fillVariables(r.text, vars))
    },
    [insert, vars],
  )

  const onKeyDown = (e: React.KeyboardEvent<HTMLTextAreaElement>): boolean => {
    if (!open || e.nativeEvent.isComposing) return false
    switch (e.key) {
      case 'Escape':
        e.preventDefault()
        e.stopPropagation()
        setDismissed(true)
        return true
      case 'ArrowDown':
      case 'ArrowUp':
        if (matches.length === 0) return false
        e.preventDefault()
        setSel((current + (e.key === 'ArrowDown' ? 1 : matches.length - 1)) % matches.length)
        return true
      case 'Enter':
      case 'Tab':
        if (matches.length === 0 || e.shiftKey) return false // a message that starts with "/" still sends
        e.preventDefault()
        choose(matches[current])
        return true
    }
    return false
  }

  let element: React.ReactNode = null
  if (open) {
    element = (
      <div className="reply-picker" data-testid="reply-picker" role="dialog" aria-label="Saved replies">
        {replies === null ? (
          <div className="reply-picker-empty muted small">Loading saved replies…</div>
        ) : matches.length === 0 ? (
          <div className="reply-picker-empty muted small" data-testid="reply-picker-empty">
            {replies.length === 0 ? 'No saved replies yet: add your team’s in Settings.' : `No saved reply matches “${query}”. Enter sends the text as typed.`}
          </div>
        ) : (
          <ul className="reply-picker-list" role="listbox" aria-label="Saved replies" ref={listRef}>
            {matches.map((r, i) => (
              <li
                key={r.id}
                role="option"
                aria-selected={i === current}
                data-index={i}
                data-testid="reply-option"
                data-reply={r.id}
                className={`reply-option${i === current ? ' on' : ''}`}
                onMouseEnter={() => setSel(i)}
                onMouseDown={(e) => {
                  e.preventDefault() // keep the focus in the composer
                  choose(r)
                }}
              >
                <span className="reply-option-title">{r.title}</span>
                {r.shortcut && <span className="reply-option-shortcut">/{r.shortcut}</span>}
                {r.state === 'pending' && <span className="reply-option-state muted small">not sent yet</span>}
                <span className="reply-option-text muted small">{r.text}</span>
              </li>
            ))}
          </ul>
        )}
        <div className="reply-picker-help muted small">↑↓ to choose · Enter to insert · Esc to close</div>
      </div>
    )
  }
  return { element, onKeyDown, open }
}
