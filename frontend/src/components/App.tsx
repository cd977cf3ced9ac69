import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react'
import { api, describeError, on, EventReconnected } from '../api'
import type { AttributeDef, BulkAction, Info, InboxQuery, Participant, Row, SavedView, SearchHit, Status, TypingEvent, View } from '../api/types'
import { statusIn } from '../api/types'
import { EventInboxChanged, EventSyncState, EventTyping } from '../events'
import { nameOf, titleFor } from '../lib/format'
import { isTypingTarget, useLatest } from '../lib/hooks'
import { InboxWindow } from '../state/inboxWindow'
import { TypingStore } from '../state/typing'
import { prefetchConversation } from '../state/useConversation'
import { AppContext, type AppState } from './AppContext'
import { ConversationPane, type ConversationHandle } from './conversation/ConversationPane'
import { BulkBar } from './BulkBar'
import { InboxList } from './InboxList'
import { ListHeader } from './ListHeader'
import { NewConversationDialog } from './NewConversation'
import { SearchBox, SearchResults, useSearch, type SearchHandle } from './Search'
import { SettingsDialog } from './Settings'
import { ShortcutsOverlay } from './Shortcuts'
import { Sidebar, VIEWS, defaultSort, type ViewCount } from './Sidebar'
import { SnoozeMenu } from './SnoozeMenu'
import { assignable } from '../lib/team'
import { StatusBanner } from './StatusBar'
import { Welcome } from './Welcome'

const DEFAULT_QUERY: InboxQuery = { view: 'open', sort: 'activity' }
const COUNTS_MIN_INTERVAL_MS = 400

type Overlay = 'shortcuts' | 'settings' | 'new' | 'snooze' | null

function queryKey(q: InboxQuery) {
  return JSON.stringify([q.view, q.sort, q.priority ?? '', q.tag ?? '', !!q.unreadOnly])
}

/** Calls fn at most once at a time; a call meanwhile runs it once more afterwards. */
function coalesce(fn: () => Promise<void>): () => void {
  let running = false
  let again = false
  const run = () => {
    if (running) {
      again = true
      return
    }
    running = true
    fn().finally(() => {
      running = false
      if (again) {
        again = false
        run()
      }
    })
  }
  return run
}

export interface AppProps {
  /** Inbox page size (tests use small pages). */
  pageSize?: number
  /** List viewport height when it cannot be measured (tests). */
  listHeight?: number
}

export default function App({ pageSize = 100, listHeight }: AppProps = {}) {
  const [info, setInfo] = useState<Info | null>(null)
  const [bootError, setBootError] = useState<string | null>(null)
  const [status, setStatus] = useState<Status | null>(null)
  const [teammates, setTeammates] = useState<Participant[]>([])
  const [attrDefs, setAttrDefs] = useState<AttributeDef[]>([])
  const [savedViews, setSavedViews] = useState<SavedView[]>([])
  const [query, setQuery] = useState<InboxQuery>(DEFAULT_QUERY)
  const [counts, setCounts] = useState<Partial<Record<View, ViewCount>>>({})
  const [activeIndex, setActiveIndex] = useState(0)
  const activeId = useRef<string | null>(null) // the conversation under the keyboard cursor
  const [selectedId, setSelectedId] = useState<string | null>(null)
  const [highlight, setHighlight] = useState<{ item: string; nonce: number } | null>(null)
  const [search, setSearch] = useState('')
  const [searchActive, setSearchActive] = useState(0)
  const [overlay, setOverlay] = useState<Overlay>(null)
  const paneRef = useRef<ConversationHandle>(null)
  const searchRef = useRef<SearchHandle>(null)
  const listPaneRef = useRef<HTMLElement>(null)

  const me = info?.me ?? null
  const meRef = useLatest(me)
  const typing = useMemo(() => new TypingStore(() => meRef.current?.id), [meRef])
  useSyncExternalStore(typing.subscribe, typing.getVersion)

  const key = queryKey(query)
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const win = useMemo(() => new InboxWindow((q) => api.Inbox(q), query, { pageSize }), [key, pageSize])
  const winVersion = useSyncExternalStore(win.subscribe, win.getVersion)
  const winRef = useLatest(win)
  /** Moves the keyboard cursor to a row (it then follows that row when the list reorders). */
  const moveTo = useCallback(
    (index: number) => {
      activeId.current = winRef.current.rowAt(index)?.id ?? null
      setActiveIndex(index)
    },
    [winRef],
  )

  // --- loading -------------------------------------------------------------------------------

  // A Status() answer must not overwrite a newer status an event brought meanwhile.
  const statusEvents = useRef(0)
  const statusFromEvent = useCallback((st: Status) => {
    statusEvents.current++
    setStatus(st)
  }, [])
  const refreshStatus = useMemo(
    () =>
      coalesce(async () => {
        const before = statusEvents.current
        try {
          const st = await api.Status()
          if (statusEvents.current === before) setStatus(st)
        } catch {
          // keep the last known status; the banner would lie less by staying than by vanishing
        }
      }),
    [],
  )

  const loadWorkspace = useCallback(async () => {
    const [tm, defs, views] = await Promise.allSettled([api.Teammates(), api.Attributes(), api.Views()])
    if (tm.status === 'fulfilled') setTeammates(Array.isArray(tm.value) ? tm.value : [])
    if (defs.status === 'fulfilled') setAttrDefs(Array.isArray(defs.value) ? defs.value : [])
    if (views.status === 'fulfilled') setSavedViews(Array.isArray(views.value) ? views.value : [])
  }, [])

  const boot = useCallback(async () => {
    try {
      setInfo(await api.Info())
      setBootError(null)
    } catch (e) {
      setBootError(describeError(e))
      return
    }
    refreshStatus()
    void loadWorkspace()
  }, [refreshStatus, loadWorkspace])

  // The sidebar's numbers: every view's conversations and those with something unread, in one
  // call (the Go side keeps them; the list header's numbers for a view are the same ones).
  const countsState = useRef({ last: 0, timer: 0 as ReturnType<typeof setTimeout> | 0 })
  const refreshCounts = useCallback(() => {
    const st = countsState.current
    if (st.timer) return
    const wait = Math.max(0, st.last + COUNTS_MIN_INTERVAL_MS - Date.now())
    st.timer = setTimeout(async () => {
      st.timer = 0
      st.last = Date.now()
      try {
        const c = await api.Counts()
        if (c && typeof c === 'object') setCounts(c)
      } catch {
        // keep the last numbers
      }
    }, wait)
  }, [])

  useEffect(() => {
    void boot()
  }, [boot])

  useEffect(() => {
    if (info) refreshCounts()
  }, [info, refreshCounts])

  useEffect(() => {
    const offInbox = on(EventInboxChanged, (...args) => {
      winRef.current.refresh()
      const st = statusIn(args)
      if (st) statusFromEvent(st)
      else refreshStatus()
      refreshCounts()
    })
    let lastState = ''
    const offSync = on(EventSyncState, (...args) => {
      const d = args[0] as Partial<Status> | undefined
      const st = statusIn(args)
      if (st) statusFromEvent(st)
      else refreshStatus()
      const state = (d?.sync?.state ?? (d as { state?: string } | undefined)?.state ?? '') as string
      if (state === 'online' && lastState !== 'online') {
        void loadWorkspace()
        api.Info().then(setInfo, () => {})
      }
      lastState = state
    })
    const offTyping = on(EventTyping, (data) => typing.handle(data as TypingEvent))
    const offBack = on(EventReconnected, () => {
      winRef.current.refresh()
      refreshStatus()
      refreshCounts()
    })
    return () => {
      offInbox()
      offSync()
      offTyping()
      offBack()
    }
  }, [refreshStatus, refreshCounts, loadWorkspace, typing, winRef, statusFromEvent])

  // The title counts what is unread (the Go side sets the native window title too).
  const totalUnread = status?.totalUnread ?? 0
  useEffect(() => {
    document.title = titleFor(totalUnread)
  }, [totalUnread])

  // --- list and selection ---------------------------------------------------------------------

  // Rows chosen for a bulk action: Shift-click a range, Ctrl/Cmd-click one, x the cursor's.
  const [checked, setChecked] = useState<ReadonlySet<string>>(() => new Set())
  const anchor = useRef<number | null>(null)
  const [bulk, setBulk] = useState<{ busy: boolean; message: string | null }>({ busy: false, message: null })
  const [snoozeFor, setSnoozeFor] = useState<string[]>([])

  const changeQuery = useCallback((q: InboxQuery) => {
    setQuery(q)
    activeId.current = null
    setActiveIndex(0)
    setChecked(new Set())
    anchor.current = null
    setBulk({ busy: false, message: null })
  }, [])

  const selectedRef = useRef<string | null>(null)
  selectedRef.current = selectedId
  const open = useCallback((id: string, index?: number) => {
    if (id !== selectedRef.current) prefetchConversation(id)
    setSelectedId(id)
    setHighlight(null)
    if (index !== undefined) moveTo(index)
  }, [moveTo])

  const toggleChecked = useCallback(
    (index: number) => {
      const row = winRef.current.rowAt(index)
      if (!row) return
      anchor.current = index
      setChecked((c) => {
        const n = new Set(c)
        if (n.has(row.id)) n.delete(row.id)
        else n.add(row.id)
        return n
      })
      setBulk((b) => ({ ...b, message: null }))
    },
    [winRef],
  )
  const onOpenRow = useCallback(
    (row: Row, index: number, mods?: { shift: boolean; toggle: boolean }) => {
      if (mods?.shift) {
        const from = anchor.current ?? activeIndexRef.current
        const [a, b] = from <= index ? [from, index] : [index, from]
        setChecked((c) => {
          const n = new Set(c)
          for (let i = a; i <= b; i++) {
            const r = winRef.current.rowAt(i)
            if (r) n.add(r.id)
          }
          return n
        })
        setBulk((x) => ({ ...x, message: null }))
        moveTo(index)
        return
      }
      if (mods?.toggle) {
        toggleChecked(index)
        moveTo(index)
        return
      }
      setChecked((c) => (c.size ? new Set() : c))
      anchor.current = index
      open(row.id, index)
    },
    [open, moveTo, toggleChecked, winRef],
  )

  const runBulk = useCallback(
    async (action: BulkAction, ids: string[]): Promise<string | null> => {
      if (!ids.length) return null
      setBulk({ busy: true, message: null })
      try {
        const res = await api.Bulk(ids, action)
        const failed = res?.failed ?? []
        const verb = { resolve: 'Resolved', reopen: 'Reopened', assign: 'Assigned', tag: 'Tagged', snooze: 'Snoozed' }[action.kind]
        const done = res?.done ?? 0
        let message = `${verb} ${done} ${done === 1 ? 'conversation' : 'conversations'}`
        if (failed.length) message += `; ${failed.length} refused: ${failed[0].error?.message ?? failed[0].error?.code ?? ''}`
        setBulk({ busy: false, message })
        // Keep what was refused chosen, so it can be looked at.
        setChecked(new Set(failed.map((f) => f.id)))
        anchor.current = null
        winRef.current.refresh()
        refreshCounts()
        refreshStatus()
        return failed.length && !done ? message : null
      } catch (e) {
        const message = `Could not do it: ${describeError(e)}`
        setBulk({ busy: false, message })
        return message
      }
    },
    [winRef, refreshCounts, refreshStatus],
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

  const { hits, error: searchError, busy: searchBusy, done: searchDone } = useSearch(search)
  useEffect(() => setSearchActive(0), [search])
  const searching = search.trim() !== ''

  const chooseHit = useCallback(
    (h: SearchHit) => {
      setSelectedId(h.conv)
      setHighlight(h.item ? { item: h.item, nonce: Date.now() } : null)
      const i = winRef.current.indexOf(h.conv)
      if (i >= 0) moveTo(i)
    },
    [winRef, moveTo],
  )

  // A conversation opened from the details (the contact's history).
  const openOther = useCallback(
    (cid: string) => {
      setSelectedId(cid)
      setHighlight(null)
      const i = winRef.current.indexOf(cid)
      if (i >= 0) moveTo(i)
    },
    [winRef, moveTo],
  )

  // --- keyboard -------------------------------------------------------------------------------

  const activeIndexRef = useLatest(activeIndex)
  const kb = useLatest({ activeIndex, win, overlay, searching, hits, searchActive, selectedId, checked })
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const s = kb.current
      if (e.key === 'Escape') {
        if (s.overlay) {
          setOverlay(null)
          return
        }
        if (s.checked.size && !isTypingTarget(e.target)) {
          setChecked(new Set())
          anchor.current = null
          return
        }
        const a = document.activeElement as HTMLElement | null
        if (a && a !== document.body) a.blur()
        return
      }
      if (e.defaultPrevented || e.metaKey || e.ctrlKey || e.altKey) return
      if (isTypingTarget(e.target)) return
      if (s.overlay) return
      const move = (d: number) => {
        if (s.searching) {
          setSearchActive((i) => Math.max(0, Math.min(s.hits.length - 1, i + d)))
          return
        }
        const max = s.win.total - 1
        if (max < 0) return
        moveTo(Math.max(0, Math.min(max, s.activeIndex + d)))
      }
      switch (e.key) {
        case 'j':
          e.preventDefault()
          move(1)
          break
        case 'k':
          e.preventDefault()
          move(-1)
          break
        case 'Enter': {
          const t = e.target as HTMLElement | null
          if (t && (t.tagName === 'BUTTON' || t.tagName === 'A')) return
          e.preventDefault()
          if (s.searching) {
            const h = s.hits[s.searchActive]
            if (h) chooseHit(h)
            return
          }
          const row = s.win.rowAt(s.activeIndex)
          if (row) open(row.id, s.activeIndex)
          break
        }
        case 'r':
          if (!s.selectedId) return
          e.preventDefault()
          paneRef.current?.focusReply()
          break
        case 'n':
          if (!s.selectedId) return
          e.preventDefault()
          paneRef.current?.focusNote()
          break
        case 'e':
          if (!s.selectedId) return
          e.preventDefault()
          paneRef.current?.toggleResolve()
          break
        case 'x':
          if (s.searching) return
          e.preventDefault()
          toggleChecked(s.activeIndex)
          break
        case 'z':
          if (s.checked.size) {
            e.preventDefault()
            setSnoozeFor([...s.checked])
            setOverlay('snooze')
          } else if (s.selectedId) {
            e.preventDefault()
            paneRef.current?.snooze()
          }
          break
        case '/':
          e.preventDefault()
          searchRef.current?.focus()
          break
        case '?':
          e.preventDefault()
          setOverlay('shortcuts')
          break
      }
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [kb, open, chooseHit, moveTo, toggleChecked])

  // --- saved views ----------------------------------------------------------------------------

  const saveView = useCallback(
    async (name: string): Promise<string | null> => {
      try {
        await api.SaveView(name, query)
        setSavedViews((v) => [...v.filter((x) => x.name !== name), { name, query }])
        return null
      } catch (e) {
        return describeError(e)
      }
    },
    [query],
  )
  const deleteView = useCallback(async (name: string) => {
    try {
      await api.DeleteView(name)
      setSavedViews((v) => v.filter((x) => x.name !== name))
    } catch (e) {
      window.alert(`Could not delete the view: ${describeError(e)}`)
    }
  }, [])

  // --- context --------------------------------------------------------------------------------

  const names = useMemo(() => {
    const m = new Map<string, string>()
    for (const t of teammates) if (t?.id) m.set(t.id, nameOf(t))
    if (me?.id && me.name) m.set(me.id, me.name)
    return m
  }, [teammates, me])

  const ctx: AppState = useMemo(
    () => ({ info, me, status, teammates, attrDefs, names, typing, refreshStatus }),
    [info, me, status, teammates, attrDefs, names, typing, refreshStatus],
  )

  const typingByConv = useMemo(
    () => typing.all(),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [typing, typing.getVersion()],
  )

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
            onSavedView={(v) => changeQuery({ ...DEFAULT_QUERY, ...v.query })}
            onSaveView={saveView}
            onDeleteView={(n) => void deleteView(n)}
            onSettings={() => setOverlay('settings')}
            onShortcuts={() => setOverlay('shortcuts')}
            onNewConversation={() => setOverlay('new')}
          />
          <section className="list-pane" ref={listPaneRef} aria-label="Inbox">
            <SearchBox
              ref={searchRef}
              value={search}
              onChange={setSearch}
              onKey={(k) => {
                if (k === 'escape') {
                  if (search) setSearch('')
                  else (document.activeElement as HTMLElement | null)?.blur()
                } else if (k === 'down') setSearchActive((i) => Math.min(hits.length - 1, i + 1))
                else if (k === 'up') setSearchActive((i) => Math.max(0, i - 1))
                else if (k === 'enter' && hits[searchActive]) chooseHit(hits[searchActive])
              }}
            />
            {searching ? (
              <SearchResults
                query={search}
                hits={hits}
                error={searchError}
                busy={searchBusy}
                done={searchDone}
                active={searchActive}
                onChoose={chooseHit}
                onHover={setSearchActive}
              />
            ) : (
              <>
                <ListHeader
                  title={savedName ?? viewLabel}
                  total={win.loaded && win.exact ? win.total : null}
                  unread={win.loaded ? win.unread : null}
                  query={query}
                  onChange={changeQuery}
                />
                {checked.size > 0 && (
                  <BulkBar
                    count={checked.size}
                    me={me}
                    teammates={assignable(teammates)}
                    busy={bulk.busy}
                    message={bulk.message}
                    onAction={(a) => void runBulk(a, [...checked])}
                    onSnooze={() => {
                      setSnoozeFor([...checked])
                      setOverlay('snooze')
                    }}
                    onClear={() => {
                      setChecked(new Set())
                      anchor.current = null
                    }}
                  />
                )}
                {checked.size === 0 && bulk.message && (
                  <div className="bulk-done" role="status" data-testid="bulk-message">
                    {bulk.message}
                  </div>
                )}
                <InboxList
                  win={win}
                  activeIndex={activeIndex}
                  selectedId={selectedId}
                  checked={checked}
                  meId={me?.id}
                  typingByConv={typingByConv}
                  names={names}
                  onOpen={onOpenRow}
                  fallbackHeight={listHeight}
                  emptyText={query.unreadOnly || query.tag || query.priority ? 'No conversation matches these filters.' : 'Nothing here. Enjoy the quiet.'}
                />
              </>
            )}
          </section>
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
              refreshStatus()
              api.Info().then(setInfo, () => {})
              void loadWorkspace()
              winRef.current.refresh()
              refreshCounts()
            }}
          />
        )}
        {overlay === 'new' && <NewConversationDialog onClose={() => setOverlay(null)} onCreated={(id) => open(id)} />}
        {overlay === 'snooze' && snoozeFor.length > 0 && (
          <SnoozeMenu
            what={snoozeFor.length === 1 ? '1 conversation' : `${snoozeFor.length} conversations`}
            onClose={() => setOverlay(null)}
            onChoose={(until) => runBulk({ kind: 'snooze', until }, snoozeFor)}
          />
        )}
      </div>
    </AppContext.Provider>
  )
}
