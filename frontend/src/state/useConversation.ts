// The open conversation: its state, its row and seen marks, and its timeline (the newest page,
// plus older pages loaded as the user scrolls up). Reloads on timeline:changed for this id.
import { useCallback, useEffect, useRef, useState } from 'react'
import { api, on, describeError } from '../api'
import type { ConversationDetail, Item, Kind, TimelinePage } from '../api/types'
import { EventInboxChanged, EventTimelineChanged } from '../events'
import { EventReconnected } from '../api/transport'

export const PAGE = 50

export interface ConversationView {
  detail: ConversationDetail | null
  items: Item[]
  hasOlder: boolean
  loading: boolean
  loadingOlder: boolean
  error: string | null
  /** Bumps when a reload brought new items (not when older ones were prepended). */
  newItemsTick: number
}

/**
 * Merges a fresh newest page into what is loaded. Older items stay when the page overlaps them
 * (some canonical item of the page is at or below the newest loaded one); otherwise more arrived
 * than a page holds and the loaded history is dropped (it would leave a gap).
 */
export function mergeNewest(
  loaded: Item[],
  loadedOlder: string | undefined,
  page: { items: Item[]; older?: string },
): { items: Item[]; older: string | undefined } {
  const fresh = page.items ?? []
  if (!page.older) return { items: fresh, older: undefined }
  const seqs = fresh.filter((i) => i.seq > 0).map((i) => i.seq)
  if (seqs.length === 0) return { items: fresh, older: page.older }
  const minSeq = Math.min(...seqs)
  const canonical = loaded.filter((i) => i.seq > 0)
  const maxLoaded = canonical.length ? Math.max(...canonical.map((i) => i.seq)) : 0
  if (maxLoaded < minSeq) return { items: fresh, older: page.older }
  const ids = new Set(fresh.map((i) => i.id))
  const keep = canonical.filter((i) => i.seq < minSeq && !ids.has(i.id))
  return { items: [...keep, ...fresh], older: keep.length ? loadedOlder : page.older }
}

type Loaded = [ConversationDetail, TimelinePage]

// A conversation the user just chose: its state and newest page are asked for from the click,
// while React is still rendering the selection, and the pane's first load takes that answer.
let prefetched: { id: string; startedAt: number; p: Promise<Loaded> } | null = null
const PREFETCH_FRESH_MS = 1000

function load(convId: string): Promise<Loaded> {
  return Promise.all([api.Conversation(convId), api.Timeline(convId, '', PAGE)])
}

/** Starts loading a conversation about to be opened (its pane's first load uses the answer). */
export function prefetchConversation(convId: string): void {
  const p = load(convId)
  p.catch(() => {}) // the pane's load reports it
  prefetched = { id: convId, startedAt: performance.now(), p }
}

function takePrefetched(convId: string): { startedAt: number; p: Promise<Loaded> } | null {
  const f = prefetched
  prefetched = null
  if (!f || f.id !== convId || performance.now() - f.startedAt > PREFETCH_FRESH_MS) return null
  return f
}

export function useConversation(id: string) {
  const [view, setView] = useState<ConversationView>({
    detail: null,
    items: [],
    hasOlder: false,
    loading: true,
    loadingOlder: false,
    error: null,
    newItemsTick: 0,
  })
  const itemsRef = useRef<Item[]>([])
  const olderRef = useRef<string | undefined>(undefined)
  // Items the user just made, shown at once as pending: before the Go side has stored them (a
  // local id), or until the timeline has them (the event's id). A local one goes once a reload
  // that started after its call returned has come back.
  const optimistic = useRef(new Map<string, { item: Item; until: number; settledAt?: number }>())
  const localSeq = useRef(0)
  const inflight = useRef<Promise<void> | null>(null)
  const again = useRef(false)
  const alive = useRef(true)
  const idRef = useRef(id)
  idRef.current = id

  const publish = useCallback((patch: Partial<ConversationView>, newItems = false) => {
    const now = Date.now()
    const present = new Set(itemsRef.current.map((i) => i.id))
    for (const [k, o] of optimistic.current) if (present.has(k) || o.until < now) optimistic.current.delete(k)
    // A local item whose stored twin is already in the timeline is not shown twice.
    const twins = new Map<string, number>()
    for (const i of itemsRef.current) if (i.mine && i.seq === 0) twins.set(`${i.kind}\u0000${i.text}`, (twins.get(`${i.kind}\u0000${i.text}`) ?? 0) + 1)
    const extra: Item[] = []
    for (const o of optimistic.current.values()) {
      const k = `${o.item.kind}\u0000${o.item.text}`
      const n = twins.get(k) ?? 0
      if (o.item.id.startsWith('local:') && n > 0) twins.set(k, n - 1)
      else extra.push(o.item)
    }
    const items = [...itemsRef.current, ...extra]
    setView((v) => ({
      ...v,
      ...patch,
      items,
      hasOlder: !!olderRef.current,
      newItemsTick: newItems ? v.newItemsTick + 1 : v.newItemsTick,
    }))
  }, [])

  const reload = useCallback((first = false): Promise<void> => {
    if (inflight.current) {
      again.current = true
      return inflight.current
    }
    const convId = idRef.current
    const run = async () => {
      try {
        const pre = first ? takePrefetched(convId) : null
        const startedAt = pre ? pre.startedAt : performance.now()
        const [detail, page] = await (pre ? pre.p : load(convId))
        if (!alive.current || idRef.current !== convId) return
        for (const [k, o] of optimistic.current) if (o.settledAt !== undefined && o.settledAt <= startedAt) optimistic.current.delete(k)
        const before = itemsRef.current
        const merged = mergeNewest(before, olderRef.current, { items: page?.items ?? [], older: page?.older })
        itemsRef.current = merged.items
        olderRef.current = merged.older
        const lastBefore = before.length ? before[before.length - 1].id : ''
        const lastAfter = merged.items.length ? merged.items[merged.items.length - 1].id : ''
        publish({ detail, loading: false, error: null }, lastBefore !== lastAfter || before.length !== merged.items.length)
      } catch (e) {
        if (!alive.current || idRef.current !== convId) return
        publish({ loading: false, error: describeError(e) })
      }
    }
    const p = run().finally(() => {
      inflight.current = null
      if (again.current && alive.current) {
        again.current = false
        void reload()
      }
    })
    inflight.current = p
    return p
  }, [publish])

  /** Reloads only the conversation's state and row (an inbox change may touch them). */
  const detailTimer = useRef<ReturnType<typeof setTimeout> | null>(null)
  const reloadDetail = useCallback(() => {
    if (detailTimer.current) return
    detailTimer.current = setTimeout(async () => {
      detailTimer.current = null
      const convId = idRef.current
      try {
        const detail = await api.Conversation(convId)
        if (alive.current && idRef.current === convId) setView((v) => ({ ...v, detail }))
      } catch {
        // the next full reload reports it
      }
    }, 150)
  }, [])

  const loadOlder = useCallback(async (): Promise<boolean> => {
    const cursor = olderRef.current
    const convId = idRef.current
    if (!cursor) return false
    setView((v) => ({ ...v, loadingOlder: true }))
    try {
      const page = await api.Timeline(convId, cursor, PAGE)
      if (!alive.current || idRef.current !== convId) return false
      const have = new Set(itemsRef.current.map((i) => i.id))
      itemsRef.current = [...(page.items ?? []).filter((i) => !have.has(i.id)), ...itemsRef.current]
      olderRef.current = page.older || undefined
      publish({ loadingOlder: false })
      return true
    } catch (e) {
      publish({ loadingOlder: false, error: describeError(e) })
      return false
    }
  }, [publish])

  /** Loads older pages until the item is in memory (a search hit deep in the history). */
  const ensureItem = useCallback(
    async (itemId: string): Promise<boolean> => {
      for (let i = 0; i < 200; i++) {
        if (itemsRef.current.some((it) => it.id === itemId)) return true
        if (!olderRef.current) return false
        if (!(await loadOlder())) return false
      }
      return false
    },
    [loadOlder],
  )

  /** Shows what the user is sending as pending, at once; returns a token for settleLocal. */
  const addLocal = useCallback(
    (kind: Kind, text: string, actor: Item['actor']): string => {
      const id = `local:${++localSeq.current}`
      optimistic.current.set(id, {
        until: Date.now() + 30_000,
        item: { id, kind, actor, text, seq: 0, at: Date.now(), mine: true, state: 'pending' },
      })
      publish({}, true)
      return id
    },
    [publish],
  )

  /** The call for a local item returned: on failure it goes now (the composer keeps the text and
   * shows why); on success it goes with the next reload, which shows the stored item (the Go side
   * stores the event before the call returns). */
  const settleLocal = useCallback(
    (token: string, ok: boolean) => {
      const o = optimistic.current.get(token)
      if (!o) return
      if (!ok) {
        optimistic.current.delete(token)
        publish({})
        return
      }
      o.settledAt = performance.now()
      void reload()
    },
    [publish, reload],
  )

  useEffect(() => {
    alive.current = true
    itemsRef.current = []
    olderRef.current = undefined
    optimistic.current.clear()
    setView({ detail: null, items: [], hasOlder: false, loading: true, loadingOlder: false, error: null, newItemsTick: 0 })
    void reload(true)
    const offTimeline = on(EventTimelineChanged, (ids) => {
      if (!ids?.length || ids.includes(id)) void reload()
    })
    const offInbox = on(EventInboxChanged, () => reloadDetail())
    const offBack = on(EventReconnected, () => void reload())
    return () => {
      alive.current = false
      offTimeline()
      offInbox()
      offBack()
      if (detailTimer.current) clearTimeout(detailTimer.current)
      detailTimer.current = null
    }
  }, [id, reload, reloadDetail])

  return { ...view, reload, loadOlder, ensureItem, addLocal, settleLocal }
}
