import { forwardRef, useEffect, useImperativeHandle, useRef, useState } from 'react'
import { api, describeError } from '../api'
import type { SearchHit } from '../api/types'
import { contactName, relativeTime } from '../lib/format'
import { LockIcon, SearchIcon } from './Icons'

export const SEARCH_DEBOUNCE_MS = 120
export const SEARCH_LIMIT = 50

export interface SearchHandle {
  focus(): void
}

export interface SearchBoxProps {
  value: string
  onChange: (v: string) => void
  /** Arrow keys and Enter in the box drive the results. */
  onKey: (key: 'up' | 'down' | 'enter' | 'escape') => void
}

export const SearchBox = forwardRef<SearchHandle, SearchBoxProps>(function SearchBox({ value, onChange, onKey }, ref) {
  const input = useRef<HTMLInputElement>(null)
  useImperativeHandle(ref, () => ({
    focus: () => {
      input.current?.focus()
      input.current?.select()
    },
  }))
  return (
    <div className="search-box">
      <SearchIcon />
      <input
        ref={input}
        type="search"
        placeholder="Search conversations, messages, notes"
        aria-label="Search"
        value={value}
        data-testid="search-input"
        onChange={(e) => onChange(e.target.value)}
        onKeyDown={(e) => {
          const k = e.key === 'ArrowDown' ? 'down' : e.key === 'ArrowUp' ? 'up' : e.key === 'Enter' ? 'enter' : e.key === 'Escape' ? 'escape' : null
          if (!k) return
          e.preventDefault()
          if (k === 'escape') e.stopPropagation()
          onKey(k)
        }}
      />
      <kbd className="kbd-hint">/</kbd>
    </div>
  )
})

/** Runs Search as the query changes (debounced); the newest query wins. */
export function useSearch(query: string) {
  const [hits, setHits] = useState<SearchHit[]>([])
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [done, setDone] = useState('')
  const seq = useRef(0)
  useEffect(() => {
    const q = query.trim()
    const n = ++seq.current
    if (!q) {
      setHits([])
      setError(null)
      setBusy(false)
      setDone('')
      return
    }
    setBusy(true)
    const t = setTimeout(() => {
      api
        .Search(q, SEARCH_LIMIT)
        .then((r) => {
          if (seq.current !== n) return
          setHits(r ?? [])
          setError(null)
          setDone(q)
        })
        .catch((e) => {
          if (seq.current === n) setError(describeError(e))
        })
        .finally(() => {
          if (seq.current === n) setBusy(false)
        })
    }, SEARCH_DEBOUNCE_MS)
    return () => clearTimeout(t)
  }, [query])
  return { hits, error, busy, done }
}

/** The snippet with the query's words marked. */
export function Highlighted({ text, query }: { text: string; query: string }) {
  const words = query
    .trim()
    .split(/\s+/)
    .filter((w) => w.length > 0)
    .map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
  if (words.length === 0) return <>{text}</>
  const re = new RegExp(`(${words.join('|')})`, 'gi')
  const parts = text.split(re)
  return (
    <>
      {parts.map((p, i) => (i % 2 === 1 ? <mark key={i}>{p}</mark> : <span key={i}>{p}</span>))}
    </>
  )
}

export interface SearchResultsProps {
  query: string
  hits: SearchHit[]
  error: string | null
  busy: boolean
  done: string
  active: number
  onChoose: (hit: SearchHit) => void
  onHover: (i: number) => void
}

const KIND_LABEL: Record<string, string> = { conversation: 'Conversation', message: 'Message', note: 'Note' }

export function SearchResults({ query, hits, error, busy, done, active, onChoose, onHover }: SearchResultsProps) {
  const now = Date.now()
  return (
    <div className="search-results" role="listbox" aria-label="Search results" data-testid="search-results">
      {error && (
        <div className="list-error" role="alert">
          Search failed: {error}
        </div>
      )}
      {!error && hits.length === 0 && done === query.trim() && !busy && (
        <div className="list-empty" data-testid="search-empty">
          Nothing matches “{query.trim()}”.
        </div>
      )}
      {hits.map((h, i) => (
        <div
          key={`${h.conv}:${h.item ?? ''}:${i}`}
          role="option"
          aria-selected={i === active}
          className={`search-hit${i === active ? ' active' : ''} kind-${h.kind}`}
          data-testid="search-result"
          data-kind={h.kind}
          data-conv={h.conv}
          data-item={h.item}
          onMouseEnter={() => onHover(i)}
          onClick={() => onChoose(h)}
        >
          <div className="search-hit-head">
            <span className="search-hit-contact" data-testid="search-hit-contact" title={h.contactEmail || undefined}>
              {contactName(h.contact, h.contactEmail)}
            </span>
            <span className={`kind-label ${h.kind}`}>
              {h.kind === 'note' && <LockIcon size={11} />} {KIND_LABEL[h.kind] ?? h.kind}
            </span>
            <span className="inbox-row-time">{relativeTime(h.at, now)}</span>
          </div>
          <div className="search-hit-snippet">
            <Highlighted text={h.snippet} query={query} />
          </div>
        </div>
      ))}
    </div>
  )
}
