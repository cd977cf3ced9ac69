import { forwardRef } from 'react'
import type { BulkAction, InboxQuery, Me, Participant, Row, SearchHit } from '../api/types'
import type { InboxWindow } from '../state/inboxWindow'
import { BulkBar } from './BulkBar'
import { InboxList } from './InboxList'
import { ListHeader } from './ListHeader'
import { SearchBox, SearchResults, type SearchHandle } from './Search'
import { assignable } from '../lib/team'

export interface SearchState {
  query: string
  hits: SearchHit[]
  error: string | null
  busy: boolean
  /** The query the hits answer (SearchResults says "no match" only for it). */
  done: string
  active: number
}

export interface InboxPaneProps {
  title: string
  query: InboxQuery
  onQuery: (q: InboxQuery) => void
  win: InboxWindow
  activeIndex: number
  selectedId: string | null
  checked: ReadonlySet<string>
  bulk: { busy: boolean; message: string | null }
  me: Me | null
  teammates: Participant[]
  names: Map<string, string>
  typingByConv: Map<string, Participant>
  search: SearchState
  onSearch: (text: string) => void
  onSearchActive: (update: (i: number) => number) => void
  onChooseHit: (h: SearchHit) => void
  onOpenRow: (row: Row, index: number, mods?: { shift: boolean; toggle: boolean }) => void
  onBulk: (a: BulkAction) => void
  onBulkSnooze: () => void
  onClearChecked: () => void
  fallbackHeight?: number
}

/** The middle column: the search box, then its results or the list with its header and bulk bar. */
export const InboxPane = forwardRef<SearchHandle, InboxPaneProps>(function InboxPane(p, searchRef) {
  const { search, win, query, checked } = p
  const searching = search.query.trim() !== ''
  return (
    <section className="list-pane" aria-label="Inbox">
      <SearchBox
        ref={searchRef}
        value={search.query}
        onChange={p.onSearch}
        onKey={(k) => {
          if (k === 'escape') {
            if (search.query) p.onSearch('')
            else (document.activeElement as HTMLElement | null)?.blur()
          } else if (k === 'down') p.onSearchActive((i) => Math.min(search.hits.length - 1, i + 1))
          else if (k === 'up') p.onSearchActive((i) => Math.max(0, i - 1))
          else if (k === 'enter' && search.hits[search.active]) p.onChooseHit(search.hits[search.active])
        }}
      />
      {searching ? (
        <SearchResults
          query={search.query}
          hits={search.hits}
          error={search.error}
          busy={search.busy}
          done={search.done}
          active={search.active}
          onChoose={p.onChooseHit}
          onHover={(i) => p.onSearchActive(() => i)}
        />
      ) : (
        <>
          <ListHeader title={p.title} total={win.loaded && win.exact ? win.total : null} unread={win.loaded ? win.unread : null} query={query} onChange={p.onQuery} />
          {checked.size > 0 && (
            <BulkBar
              count={checked.size}
              me={p.me}
              teammates={assignable(p.teammates)}
              busy={p.bulk.busy}
              message={p.bulk.message}
              onAction={p.onBulk}
              onSnooze={p.onBulkSnooze}
              onClear={p.onClearChecked}
            />
          )}
          {checked.size === 0 && p.bulk.message && (
            <div className="bulk-done" role="status" data-testid="bulk-message">
              {p.bulk.message}
            </div>
          )}
          <InboxList
            win={win}
            activeIndex={p.activeIndex}
            selectedId={p.selectedId}
            checked={checked}
            meId={p.me?.id}
            typingByConv={p.typingByConv}
            names={p.names}
            onOpen={p.onOpenRow}
            fallbackHeight={p.fallbackHeight}
            emptyText={query.unreadOnly || query.tag || query.priority ? 'No conversation matches these filters.' : 'Nothing here. Enjoy the quiet.'}
          />
        </>
      )}
    </section>
  )
})
