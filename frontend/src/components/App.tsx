import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react'
import { api, EventReconnected, on } from '../api'
import type { InboxQuery, Row, SearchHit } from '../api/types'
import { EventInboxChanged, EventSyncState, EventTyping } from '../events'
import { nameOf, titleFor } from '../lib/format'
import { useLatest } from '../lib/hooks'
import { InboxWindow } from '../state/inboxWindow'
import { TypingStore } from '../state/typing'
import { useBoot } from '../state/useBoot'
import { prefetchConversation } from '../state/useConversation'
import { useNotifications } from '../state/useNotifications'
import { useSelection } from '../state/useSelection'
import { useStatus } from '../state/useStatus'
import { useViewCounts } from '../state/useViewCounts'
import { useWorkspace } from '../state/useWorkspace'
import { AppContext, type AppState } from './AppContext'
import { ConversationPane, type ConversationHandle } from './conversation/ConversationPane'
import { InboxPane } from './InboxPane'
import { NewConversationDialog } from './NewConversation'
import { useSearch, type SearchHandle } from './Search'
import { SettingsDialog } from './Settings'
import { ShortcutsOverlay } from './Shortcuts'
import { Sidebar, VIEWS, defaultSort } from './Sidebar'
import { SnoozeMenu } from './SnoozeMenu'
import { StatusBanner } from './StatusBar'
import { useShortcuts } from './useShortcuts'
import { Welcome } from './Welcome'

const DEFAULT_QUERY: InboxQuery = { view: 'open', sort: 'activity' }

type Overlay = 'shortcuts' | 'settings' | 'new' | 'snooze' | null

function queryKey(q: Omit<InboxQuery, 'sort'> & { sort?: string }) {
  return JSON.stringify([q.view, q.sort ?? '', q.priority ?? '', q.tag ?? '', !!q.unreadOnly])
}

export interface AppProps {
  /** Inbox page size (tests use small pages). */
  pageSize?: number
  /** List viewport height when it cannot be measured (tests). */
  listHeight?: number
}

/**
 * The window: sidebar, inbox list, conversation pane, overlays. The state lives in hooks
 * (state/use*.ts: boot, status, view counts, workspace, selection, notifications; useShortcuts for
 * the keyboard); this component wires them together and lays the window out.
 */
export default function App({ pageSize = 100, listHeight }: AppProps = {}) {
  const { status, statusFromEvent, refreshStatus } = useStatus()
  const { teammates, attrDefs, savedViews, loadWorkspace, saveView, deleteView } = useWorkspace()
  const onBooted = useCallback(() => {
    refreshStatus()
    void loadWorkspace()
  }, [refreshStatus, loadWorkspace])
  const { info, bootError, boot, reloadInfo } = useBoot(onBooted)
  const { counts, refreshCounts } = useViewCounts(!!info)

  const [query, setQuery] = useState<InboxQuery>(DEFAULT_QUERY)
  const [overlay, setOverlay] = useState<Overlay>(null)
  const [snoozeFor, setSnoozeFor] = useState<string[]>([])
  const paneRef = useRef<ConversationHandle>(null)
  const searchRef = useRef<SearchHandle>(null)

  const me = info?.me ?? null
  const meRef = useLatest(me)
  const typing = useMemo(() => new TypingStore(() => meRef.current?.id), [meRef])
  const typingVersion = useSyncExternalStore(typing.subscribe, typing.getVersion)

  // --- the list, its cursor and the open conversation ------------------------------------------

  const key = queryKey(query)
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const win = useMemo(() => new InboxWindow((q) => api.Inbox(q), query, { pageSize }), [key, pageSize])
  const winVersion = useSyncExternalStore(win.subscribe, win.getVersion)
  const winRef = useLatest(win)

  const [activeIndex, setActiveIndex] = useState(0)
  const activeId = useRef<string | null>(null) // the conversation under the keyboard cursor
  const activeIndexRef = useLatest(activeIndex)
  /** Moves the keyboard cursor to a row (it then follows that row when the list reorders). */
  const moveTo = useCallback(
    (index: number) => {
      activeId.current = winRef.current.rowAt(index)?.id ?? null
      setActiveIndex(index)
    },
    [winRef],
  )
  // The keyboard cursor follows its conversation when the list reorders (a new message moves a
  // row to the top).
  useEffect(() => {
    const row = win.rowAt(activeIndex)
    if (row && row.id === activeId.current) return
    const i = activeId.current ? win.indexOf(activeId.current) : -1
    if (i >= 0) setActiveIndex(i)
    else if (row) activeId.current = row.id
  }, [win, winVersion, activeIndex])

  const [selectedId, setSelectedId] = useState<string | null>(null)
  const [highlight, setHighlight] = useState<{ item: string; nonce: number } | null>(null)
  const selectedRef = useLatest(selectedId)
  /** Opens a conversation (and moves the cursor to its row when it is in the list). */
  const open = useCallback(
    (id: string, index?: number, item?: string) => {
      if (id !== selectedRef.current) prefetchConversation(id)
      setSelectedId(id)
      setHighlight(item ? { item, nonce: Date.now() } : null)
      const i = index ?? winRef.current.indexOf(id)
      if (i >= 0) moveTo(i)
    },
    [moveTo, winRef, selectedRef],
  )
  const openOther = useCallback((id: string) => open(id), [open])

  /** Reloads what an action may have changed: the list, the numbers, the status. */
  const reloadShown = useCallback(() => {
    winRef.current.refresh()
    refreshCounts()
    refreshStatus()
  }, [winRef, refreshCounts, refreshStatus])

  const rowAt = useCallback((i: number) => winRef.current.rowAt(i), [winRef])
  const sel = useSelection(rowAt, reloadShown)

  const changeQuery = useCallback(
    (q: InboxQuery) => {
      setQuery(q)
      activeId.current = null
      setActiveIndex(0)
      sel.reset()
    },
    [sel.reset], // eslint-disable-line react-hooks/exhaustive-deps
  )

  const onOpenRow = useCallback(
    (row: Row, index: number, mods?: { shift: boolean; toggle: boolean }) => {
      if (mods?.shift) {
        sel.extend(index, activeIndexRef.current)
        moveTo(index)
        return
      }
      if (mods?.toggle) {
        sel.toggle(index)
        moveTo(index)
        return
      }
      sel.clear()
      sel.setAnchor(index)
      open(row.id, index)
    },
    [open, moveTo, activeIndexRef, sel.extend, sel.toggle, sel.clear, sel.setAnchor], // eslint-disable-line react-hooks/exhaustive-deps
  )

  // --- search ----------------------------------------------------------------------------------

  const [search, setSearch] = useState('')
  const [searchActive, setSearchActive] = useState(0)
  const found = useSearch(search)
  useEffect(() => setSearchActive(0), [search])
  const searching = search.trim() !== ''
  const chooseHit = useCallback((h: SearchHit) => open(h.conv, undefined, h.item), [open])

  // --- events ----------------------------------------------------------------------------------

  useEffect(() => {
    const offInbox = on(EventInboxChanged, (st) => {
      winRef.current.refresh()
      statusFromEvent(st)
    })
    let lastState = ''
    const offSync = on(EventSyncState, (st) => {
      statusFromEvent(st)
      const state = st.sync.state
      if (state === 'online' && lastState !== 'online') {
        void loadWorkspace()
        reloadInfo()
      }
      lastState = state
    })
    const offTyping = on(EventTyping, (ev) => typing.handle(ev))
    const offBack = on(EventReconnected, () => {
      winRef.current.refresh()
      refreshStatus()
    })
    return () => {
      offInbox()
      offSync()
      offTyping()
      offBack()
    }
  }, [refreshStatus, loadWorkspace, reloadInfo, typing, winRef, statusFromEvent])

  useNotifications(!!info, openOther)

  // The title counts what is unread (the Go side sets the native window title too).
  const totalUnread = status?.totalUnread ?? 0
  useEffect(() => {
    document.title = titleFor(totalUnread)
  }, [totalUnread])

  // --- keyboard --------------------------------------------------------------------------------

  useShortcuts({
    overlayOpen: overlay !== null,
    hasChecked: sel.checked.size > 0,
    hasSelection: selectedId !== null,
    searching,
    closeOverlay: () => setOverlay(null),
    clearChecked: sel.clear,
    move: (d) => {
      if (searching) setSearchActive((i) => Math.max(0, Math.min(found.hits.length - 1, i + d)))
      else if (win.total > 0) moveTo(Math.max(0, Math.min(win.total - 1, activeIndex + d)))
    },
    activate: () => {
      if (searching) {
        const h = found.hits[searchActive]
        if (h) chooseHit(h)
        return
      }
      const row = win.rowAt(activeIndex)
      if (row) open(row.id, activeIndex)
    },
    reply: () => paneRef.current?.focusReply(),
    note: () => paneRef.current?.focusNote(),
    toggleResolve: () => paneRef.current?.toggleResolve(),
    toggleChecked: () => sel.toggle(activeIndex),
    snooze: () => {
      if (sel.checked.size) {
        setSnoozeFor([...sel.checked])
        setOverlay('snooze')
      } else paneRef.current?.snooze()
    },
    focusSearch: () => searchRef.current?.focus(),
    showShortcuts: () => setOverlay('shortcuts'),
  })

  // --- context ---------------------------------------------------------------------------------

  const names = useMemo(() => {
    const m = new Map<string, string>()
    for (const t of teammates) if (t.id) m.set(t.id, nameOf(t))
    if (me?.id && me.name) m.set(me.id, me.name)
    return m
  }, [teammates, me])

  // Only what changes rarely: the pane reads it, and must not re-render with every inbox change.
  const ctx: AppState = useMemo(
    () => ({ info, me, teammates, attrDefs, names, typing, refreshStatus }),
    [info, me, teammates, attrDefs, names, typing, refreshStatus],
  )

  // eslint-disable-next-line react-hooks/exhaustive-deps
  const typingByConv = useMemo(() => typing.all(), [typing, typingVersion])

  if (bootError && !info) {
    return (
      <div className="boot-error" role="alert" data-testid="boot-error">
        <h1>Threadline cannot reach its backend</h1>
        <p>{bootError}</p>
        <button type="button" className="btn primary" onClick={() => void boot()}>
          Try again
        </button>
      </div>
    )
  }

  const viewLabel = VIEWS.find((v) => v.view === query.view)?.label ?? 'Inbox'
  const savedName = savedViews.find((v) => queryKey(v.query) === key)?.name

  return (
    <AppContext.Provider value={ctx}>
      <div className="app" data-testid="app" data-ready={info ? 'true' : 'false'}>
        <StatusBanner status={status} onSettings={() => setOverlay('settings')} />
        <div className="app-body">
          <Sidebar
            query={query}
            counts={counts}
            savedViews={savedViews}
            status={status}
            workspace={info?.workspace}
            onView={(v) => changeQuery({ view: v, sort: defaultSort(v) })}
            onSavedView={(v) => changeQuery({ ...DEFAULT_QUERY, ...v.query, sort: v.query.sort ?? DEFAULT_QUERY.sort })}
            onSaveView={(name) => saveView(name, query)}
            onDeleteView={(n) => void deleteView(n)}
            onSettings={() => setOverlay('settings')}
            onShortcuts={() => setOverlay('shortcuts')}
            onNewConversation={() => setOverlay('new')}
          />
          <InboxPane
            ref={searchRef}
            title={savedName ?? viewLabel}
            query={query}
            onQuery={changeQuery}
            win={win}
            activeIndex={activeIndex}
            selectedId={selectedId}
            checked={sel.checked}
            bulk={sel.bulk}
            me={me}
            teammates={teammates}
            names={names}
            typingByConv={typingByConv}
            search={{ query: search, hits: found.hits, error: found.error, busy: found.busy, done: found.done, active: searchActive }}
            onSearch={setSearch}
            onSearchActive={setSearchActive}
            onChooseHit={chooseHit}
            onOpenRow={onOpenRow}
            onBulk={(a) => void sel.run(a, [...sel.checked])}
            onBulkSnooze={() => {
              setSnoozeFor([...sel.checked])
              setOverlay('snooze')
            }}
            onClearChecked={sel.clear}
            fallbackHeight={listHeight}
          />
          <main className="conv-pane">
            {selectedId ? (
              <ConversationPane key={selectedId} ref={paneRef} id={selectedId} highlight={highlight} onOpenConversation={openOther} />
            ) : info && !info.demo && !info.connected && !info.disconnected ? (
              <Welcome onConnect={() => setOverlay('settings')} onNewConversation={() => setOverlay('new')} />
            ) : (
              <div className="conv-empty" data-testid="no-conversation">
                <p>Select a conversation</p>
                <p className="muted small">
                  <kbd>j</kbd> <kbd>k</kbd> to move, <kbd>Enter</kbd> to open, <kbd>?</kbd> for every shortcut
                </p>
              </div>
            )}
          </main>
        </div>
        {overlay === 'shortcuts' && <ShortcutsOverlay onClose={() => setOverlay(null)} />}
        {overlay === 'settings' && (
          <SettingsDialog
            status={status}
            onClose={() => setOverlay(null)}
            onChanged={() => {
              // Connecting or disconnecting swaps the store: everything shown may be gone.
              setSelectedId(null)
              setHighlight(null)
              reloadInfo()
              void loadWorkspace()
              reloadShown()
            }}
          />
        )}
        {overlay === 'new' && <NewConversationDialog onClose={() => setOverlay(null)} onCreated={(id) => open(id)} />}
        {overlay === 'snooze' && snoozeFor.length > 0 && (
          <SnoozeMenu
            what={snoozeFor.length === 1 ? '1 conversation' : `${snoozeFor.length} conversations`}
            onClose={() => setOverlay(null)}
            onChoose={(until) => sel.run({ kind: 'snooze', until }, snoozeFor)}
          />
        )}
      </div>
    </AppContext.Provider>
  )
}
