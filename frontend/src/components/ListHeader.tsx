import { useEffect, useState } from 'react'
import type { InboxQuery, Priority, SortOrder } from '../api/types'
import { PRIORITIES } from '../api/types'
import { CloseIcon } from './Icons'

export interface ListHeaderProps {
  title: string
  /** How many conversations the list holds (null: not known yet). */
  total: number | null
  /** How many of them have something unread: the same number as the view's in the sidebar. */
  unread?: number | null
  query: InboxQuery
  onChange: (q: InboxQuery) => void
}

export function ListHeader({ title, total, unread, query, onChange }: ListHeaderProps) {
  const [tag, setTag] = useState(query.tag ?? '')
  useEffect(() => setTag(query.tag ?? ''), [query.tag])
  const applyTag = () => {
    const t = tag.trim().toLowerCase()
    if ((query.tag ?? '') !== t) onChange({ ...query, tag: t || undefined })
  }
  const filtered = !!(query.priority || query.tag || query.unreadOnly)
  return (
    <div className="list-header">
      <div className="list-title-row">
        <h2 className="list-title" data-testid="list-title">
          {title}
        </h2>
        {total !== null && (
          <span className="list-total" data-testid="list-total" title={`${total.toLocaleString()} conversations`}>
            {total.toLocaleString()}
          </span>
        )}
        {!!unread && (
          <span className="list-unread" data-testid="list-unread" title={`${unread.toLocaleString()} with unread messages`}>
            {unread.toLocaleString()} unread
          </span>
        )}
        <span className="spacer" />
        <select
          className="input tiny"
          aria-label="Sort"
          value={query.sort}
          onChange={(e) => onChange({ ...query, sort: e.target.value as SortOrder })}
          data-testid="sort-select"
        >
          {query.view === 'snoozed' && <option value="wake">Wakes first</option>}
          <option value="activity">Latest message</option>
          <option value="priority">Priority</option>
        </select>
      </div>
      <div className="filter-row">
        <select
          className={`input tiny${query.priority ? ' set' : ''}`}
          aria-label="Priority filter"
          value={query.priority ?? ''}
          onChange={(e) => onChange({ ...query, priority: (e.target.value || undefined) as Priority | undefined })}
          data-testid="priority-filter"
        >
          <option value="">Any priority</option>
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {p[0].toUpperCase() + p.slice(1)}
            </option>
          ))}
        </select>
        <input
          className={`input tiny tag-filter${query.tag ? ' set' : ''}`}
          placeholder="Tag"
          aria-label="Tag filter"
          value={tag}
          onChange={(e) => setTag(e.target.value)}
          onBlur={applyTag}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault()
              applyTag()
            }
          }}
          data-testid="tag-filter"
        />
        <label className={`toggle${query.unreadOnly ? ' set' : ''}`}>
          <input
            type="checkbox"
            checked={!!query.unreadOnly}
            onChange={(e) => onChange({ ...query, unreadOnly: e.target.checked || undefined })}
            data-testid="unread-filter"
          />
          Unread
        </label>
        {filtered && (
          <button
            type="button"
            className="icon-btn small"
            aria-label="Clear filters"
            title="Clear filters"
            onClick={() => onChange({ view: query.view, sort: query.sort })}
            data-testid="clear-filters"
          >
            <CloseIcon size={12} />
          </button>
        )}
      </div>
    </div>
  )
}
