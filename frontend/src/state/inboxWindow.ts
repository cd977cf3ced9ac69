// InboxWindow holds the part of an inbox list that is on or near the screen. The Go side pages the
// inbox with keyset cursors (a page's `next` continues after its last row), so:
//   - rows live in fixed-size pages; page k starts at row k*pageSize;
//   - the cursor that starts each page we have seen is remembered (short strings, cheap to keep);
//   - at most maxPages pages of rows stay in memory; the ones farthest from the viewport go first;
//   - a page whose cursor is unknown is reached from the nearest known one, skipping in big
//     strides (or directly, when the Go side answers `offset` requests: feature-detected by the
//     echo of `offset` in the answer);
//   - `refresh()` (on inbox:changed) refetches the pages on screen as one chain from the first
//     one's cursor, keeping the old rows visible until their replacements arrive.
import type { InboxPage, InboxQuery, InboxRequest, Row } from '../api/types'

export type Fetch = (req: InboxRequest) => Promise<InboxPage>

/** A page with its rows (Go's nil slice arrives as null). */
const rowsOf = (p: InboxPage): Row[] => p.rows ?? []

export interface WindowOptions {
  pageSize?: number
  maxPages?: number
  /** Rows fetched per call when skipping to an unknown page. */
  maxSkip?: number
}

export class InboxWindow {
  readonly pageSize: number
  readonly maxPages: number
  readonly maxSkip: number
  /** The number of rows the query selects (the Go side's total; else what paging has shown). */
  total = 0
  /** How many of them have something unread, when the Go side says (else null). */
  unread: number | null = null
  /** Whether total is the Go side's count (else an estimate from paging). */
  exact = false
  /** True once the first answer arrived. */
  loaded = false
  error: string | null = null

  private pages = new Map<number, Row[]>()
  private stale = new Set<number>()
  private cursors = new Map<number, string>([[0, '']])
  private lastPage = Infinity // index of the page known to be the last one (next was "")
  private exactTotal = false
  private range: [number, number] = [0, 0]
  private gen = 0
  private running = false
  private again = false
  private disposed = false
  private readonly listeners = new Set<() => void>()
  private version = 0

  constructor(
    private readonly fetch: Fetch,
    readonly query: InboxQuery,
    opts: WindowOptions = {},
  ) {
    this.pageSize = opts.pageSize ?? 100
    this.maxPages = Math.max(3, opts.maxPages ?? 30)
    this.maxSkip = opts.maxSkip ?? 2000
  }

  subscribe = (cb: () => void): (() => void) => {
    this.listeners.add(cb)
    return () => {
      this.listeners.delete(cb)
    }
  }

  /** Changes whenever what the window shows changed (for useSyncExternalStore). */
  getVersion = () => this.version

  private changed() {
    this.version++
    for (const cb of [...this.listeners]) cb()
  }

  dispose() {
    this.disposed = true
    this.listeners.clear()
  }

  /** The row at index i, if its page is in memory. */
  rowAt(i: number): Row | undefined {
    const p = this.pages.get(Math.floor(i / this.pageSize))
    return p?.[i % this.pageSize]
  }

  /** The index of the row with this id among the rows in memory, or -1. */
  indexOf(id: string): number {
    for (const [k, rows] of this.pages) {
      const j = rows.findIndex((r) => r.id === id)
      if (j >= 0) return k * this.pageSize + j
    }
    return -1
  }

  /** How many rows are in memory (for tests and diagnostics). */
  rowsInMemory(): number {
    let n = 0
    for (const p of this.pages.values()) n += p.length
    return n
  }

  /** Says which rows are on screen (inclusive); loads what they need. */
  setRange(first: number, last: number) {
    first = Math.max(0, first)
    last = Math.max(first, last)
    if (first === this.range[0] && last === this.range[1] && this.loaded) return
    this.range = [first, last]
    this.pump()
  }

  /** Reloads the pages on screen (the inbox changed). */
  refresh() {
    this.gen++
    const [a] = this.neededPages()
    for (const k of this.pages.keys()) this.stale.add(k)
    // Cursors after the first page on screen may now start pages at other rows: forget them and
    // chain again from page a.
    for (const k of [...this.cursors.keys()]) if (k > a) this.cursors.delete(k)
    this.lastPage = Infinity
    this.pump()
  }

  /** Starts loading; also called by setRange and refresh. */
  start() {
    this.pump()
  }

  private neededPages(): [number, number] {
    const ps = this.pageSize
    const a = Math.max(0, Math.floor(this.range[0] / ps) - 1)
    let b = Math.floor(this.range[1] / ps) + 1
    if (this.loaded && this.total > 0) b = Math.min(b, Math.max(0, Math.ceil(this.total / ps) - 1))
    b = Math.min(b, this.lastPage)
    return [a, Math.max(a, b)]
  }

  private nextWanted(): number | undefined {
    const [a, b] = this.neededPages()
    // On-screen pages first, then the overscan pages above and below.
    const first = Math.floor(this.range[0] / this.pageSize)
    const order: number[] = []
    for (let k = Math.max(a, first); k <= b; k++) order.push(k)
    for (let k = a; k < first && k <= b; k++) order.push(k)
    // Stale pages must be chained in order from a, so take the lowest one that needs loading.
    for (let k = a; k <= b; k++) {
      if (this.stale.has(k)) return k
    }
    for (const k of order) if (!this.pages.has(k)) return k
    return undefined
  }

  private pump() {
    if (this.running) {
      this.again = true
      return
    }
    this.running = true
    void this.loop().finally(() => {
      this.running = false
      if (this.again && !this.disposed) {
        this.again = false
        this.pump()
      }
    })
  }

  private async loop() {
    for (let guard = 0; guard < 10_000 && !this.disposed; guard++) {
      this.again = false
      const k = this.nextWanted()
      if (k === undefined) return
      const gen = this.gen
      try {
        await this.load(k, gen)
        this.error = null
      } catch (e) {
        this.error = e instanceof Error ? e.message : String(e)
        this.loaded = true
        this.changed()
        return
      }
      if (this.disposed) return
      this.evict()
      this.changed()
    }
  }

  private async load(k: number, gen: number) {
    const ps = this.pageSize
    if (this.cursors.has(k)) {
      const cursor = this.cursors.get(k)
      const page = await this.fetch({ ...this.query, cursor: cursor || undefined, limit: ps })
      if (gen !== this.gen) {
        // The inbox changed again meanwhile. These rows are still newer than the ones shown: show
        // them (so a busy inbox never starves the screen), but load the page once more.
        if (this.pages.has(k) && this.cursors.get(k) === cursor) {
          this.pages.set(k, rowsOf(page))
          this.stale.add(k)
        }
        return
      }
      this.store(k, rowsOf(page), page)
      return
    }
    // Unknown cursor: walk the cursors there, in strides.
    let j = k
    while (j > 0 && !this.cursors.has(j)) j--
    while (j < k) {
      const span = Math.min(k - j, Math.max(1, Math.floor(this.maxSkip / ps)))
      const page = await this.fetch({ ...this.query, cursor: this.cursors.get(j) || undefined, limit: span * ps })
      if (gen !== this.gen || this.disposed) return
      this.setTotal(page, j * ps + rowsOf(page).length)
      // Keep the rows of skipped pages that are near the screen.
      const [a, b] = this.neededPages()
      for (let m = 0; m < span; m++) {
        const rows = rowsOf(page).slice(m * ps, (m + 1) * ps)
        if (j + m >= a && j + m <= b && rows.length) {
          this.pages.set(j + m, rows)
          this.stale.delete(j + m)
        }
      }
      if (!page.next || rowsOf(page).length < span * ps) {
        // The list ends before page k.
        this.lastPage = Math.max(0, Math.ceil((j * ps + rowsOf(page).length) / ps) - 1)
        this.loaded = true
        return
      }
      j += span
      this.cursors.set(j, page.next)
      const [a2, b2] = this.neededPages()
      if (k < a2 || k > b2) return // the user scrolled elsewhere meanwhile: go there instead
    }
    if (!this.pages.has(k) || this.stale.has(k)) {
      const page = await this.fetch({ ...this.query, cursor: this.cursors.get(k) || undefined, limit: ps })
      if (gen !== this.gen) return
      this.store(k, rowsOf(page), page)
    }
  }

  private store(k: number, rows: Row[], page: InboxPage) {
    const ps = this.pageSize
    this.pages.set(k, rows)
    this.stale.delete(k)
    if (page.next) {
      this.cursors.set(k + 1, page.next)
      if (this.lastPage <= k) this.lastPage = Infinity
    } else {
      this.lastPage = k
      this.cursors.delete(k + 1)
      for (const m of [...this.pages.keys()]) if (m > k) this.pages.delete(m)
    }
    this.setTotal(page, k * ps + rows.length + (page.next ? ps : 0), !page.next ? k * ps + rows.length : undefined)
    this.loaded = true
  }

  private setTotal(page: InboxPage, atLeast: number, exact?: number) {
    if (typeof page.unread === 'number' && page.unread >= 0) this.unread = page.unread
    if (typeof page.total === 'number' && page.total >= 0) {
      this.total = page.total
      this.exactTotal = true
      this.exact = true
      return
    }
    if (exact !== undefined) {
      this.total = exact
      this.exact = true
      return
    }
    if (!this.exactTotal) this.total = Math.max(this.total, atLeast)
  }

  private evict() {
    if (this.pages.size <= this.maxPages) return
    const center = Math.floor((this.range[0] + this.range[1]) / 2 / this.pageSize)
    const keys = [...this.pages.keys()].sort((x, y) => Math.abs(y - center) - Math.abs(x - center))
    while (this.pages.size > this.maxPages) {
      const k = keys.shift()!
      this.pages.delete(k)
      this.stale.delete(k)
    }
  }
}
