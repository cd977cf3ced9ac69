import { useState } from 'react'
import type { InboxQuery, SavedView, Status, View, ViewCount } from '../api/types'
import { BookmarkIcon, BotIcon, CheckCircleIcon, CloseIcon, GearIcon, InboxIcon, KeyboardIcon, LayersIcon, PlusIcon, SnoozeIcon, UserIcon, UsersOffIcon } from './Icons'
import { ConnectionIndicator } from './StatusBar'

export type { ViewCount }

export const VIEWS: { view: View; label: string; icon: React.ReactNode }[] = [
  { view: 'mine', label: 'Mine', icon: <UserIcon /> },
  { view: 'unassigned', label: 'Unassigned', icon: <UsersOffIcon /> },
  { view: 'open', label: 'All open', icon: <InboxIcon /> },
  { view: 'snoozed', label: 'Snoozed', icon: <SnoozeIcon /> },
  { view: 'bot', label: 'Bot', icon: <BotIcon /> },
  { view: 'resolved', label: 'Resolved', icon: <CheckCircleIcon /> },
  { view: 'all', label: 'All conversations', icon: <LayersIcon /> },
]

/** The order a view lists in by default: the snoozed view, soonest to wake first. */
export function defaultSort(view: View): InboxQuery['sort'] {
  return view === 'snoozed' ? 'wake' : 'activity'
}

export interface SidebarProps {
  query: InboxQuery
  counts: Partial<Record<View, ViewCount>>
  savedViews: SavedView[]
  status: Status | null
  workspace?: string
  onView: (v: View) => void
  onSavedView: (v: SavedView) => void
  onSaveView: (name: string) => Promise<string | null>
  onDeleteView: (name: string) => void
  onSettings: () => void
  onShortcuts: () => void
  onNewConversation: () => void
}

function sameQuery(a: Omit<InboxQuery, 'sort'> & { sort?: InboxQuery['sort'] }, b: InboxQuery) {
  return (
    a.view === b.view &&
    (a.priority ?? '') === (b.priority ?? '') &&
    (a.tag ?? '') === (b.tag ?? '') &&
    !!a.unreadOnly === !!b.unreadOnly &&
    a.sort === b.sort
  )
}

function isPlain(q: InboxQuery) {
  return !q.priority && !q.tag && !q.unreadOnly && q.sort === defaultSort(q.view)
}

export function Sidebar(props: SidebarProps) {
  const { query, counts, savedViews, status, workspace } = props
  const [saving, setSaving] = useState(false)
  const [name, setName] = useState('')
  const [error, setError] = useState<string | null>(null)
  const activeSaved = savedViews.find((v) => sameQuery(v.query, query))

  const save = async (e: React.FormEvent) => {
    e.preventDefault()
    const n = name.trim()
    if (!n) return setError('Name the view')
    const err = await props.onSaveView(n)
    if (err) return setError(err)
    setSaving(false)
    setName('')
    setError(null)
  }

  return (
    <nav className="sidebar" aria-label="Views" data-testid="sidebar">
      <div className="brand">
        <span className="brand-mark" aria-hidden="true" />
        <div>
          <div className="brand-name">Threadline</div>
          {workspace && <div className="brand-ws">{workspace}</div>}
        </div>
      </div>
      <button type="button" className="btn new-conv" onClick={props.onNewConversation} data-testid="new-conversation">
        <PlusIcon size={14} /> New conversation
      </button>
      <ul className="nav-list">
        {VIEWS.map(({ view, label, icon }) => {
          const c = counts[view]
          const active = query.view === view && isPlain(query) && !activeSaved
          return (
            <li key={view}>
              <button
                type="button"
                className={`nav-item${active ? ' active' : ''}${query.view === view ? ' current' : ''}`}
                aria-current={active ? 'page' : undefined}
                onClick={() => props.onView(view)}
                data-testid={`view-${view}`}
              >
                {icon}
                <span className="nav-label">{label}</span>
                {c?.unread ? (
                  <span className="nav-count unread" title={`${c.unread.toLocaleString()} with unread messages`} data-testid={`view-${view}-unread`}>
                    {c.unread.toLocaleString()}
                  </span>
                ) : c?.total !== undefined ? (
                  <span className="nav-count" title={`${c.total.toLocaleString()} conversations`} data-testid={`view-${view}-total`}>
                    {c.total.toLocaleString()}
                  </span>
                ) : null}
              </button>
            </li>
          )
        })}
      </ul>
      <div className="nav-section">
        <span>Saved views</span>
        <button type="button" className="icon-btn small" aria-label="Save the current view" title="Save the current filter as a view" onClick={() => setSaving((s) => !s)} data-testid="save-view">
          <PlusIcon size={12} />
        </button>
      </div>
      {saving && (
        <form className="save-view-form" onSubmit={save}>
          <input
            className="input small"
            autoFocus
            placeholder="View name"
            value={name}
            onChange={(e) => {
              setName(e.target.value)
              setError(null)
            }}
            onKeyDown={(e) => {
              if (e.key === 'Escape') {
                e.stopPropagation()
                setSaving(false)
              }
            }}
            data-testid="save-view-name"
            aria-label="View name"
          />
          {error && (
            <div className="field-error" role="alert">
              {error}
            </div>
          )}
        </form>
      )}
      <ul className="nav-list saved">
        {savedViews.length === 0 && !saving && <li className="nav-empty">Filter the list, then + to save it</li>}
        {savedViews.map((v) => (
          <li key={v.name} className="saved-view">
            <button
              type="button"
              className={`nav-item${activeSaved?.name === v.name ? ' active' : ''}`}
              onClick={() => props.onSavedView(v)}
              data-testid="saved-view"
            >
              <BookmarkIcon />
              <span className="nav-label">{v.name}</span>
            </button>
            <button type="button" className="icon-btn small delete" aria-label={`Delete view ${v.name}`} onClick={() => props.onDeleteView(v.name)}>
              <CloseIcon size={11} />
            </button>
          </li>
        ))}
      </ul>
      <div className="sidebar-foot">
        <ConnectionIndicator status={status} onClick={props.onSettings} />
        <div className="foot-buttons">
          <button type="button" className="icon-btn" aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)" onClick={props.onShortcuts}>
            <KeyboardIcon />
          </button>
          <button type="button" className="icon-btn" aria-label="Settings" title="Settings" onClick={props.onSettings} data-testid="open-settings">
            <GearIcon />
          </button>
        </div>
      </div>
    </nav>
  )
}
