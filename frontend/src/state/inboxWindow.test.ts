import { describe, expect, it, vi } from 'vitest'
import { InboxWindow } from './inboxWindow'
import { fakeInbox } from '../test/rows'
import type { InboxRequest } from '../api/types'

const query = { view: 'open' as const, sort: 'activity' as const }

async function settle(w: InboxWindow) {
  for (let i = 0; i < 200; i++) {
    await new Promise((r) => setTimeout(r, 0))
    if (!(w as unknown as { running: boolean }).running) return
  }
}

describe('InboxWindow', () => {
  it('loads the first pages with the cursor chain and knows the total', async () => {
    const inbox = vi.fn(fakeInbox({ total: 1000 }))
    const w = new InboxWindow(async (q) => inbox(q), query, { pageSize: 50 })
    w.setRange(0, 10)
    await settle(w)
    expect(w.total).toBe(1000)
    expect(w.rowAt(0)?.id).toBe('c0')
    expect(w.rowAt(60)?.id).toBe('c60') // the overscan page below
    expect(inbox.mock.calls.map((c) => c[0].cursor)).toEqual([undefined, 'k50'])
  })

  it('walks the cursors in strides to reach a far page and keeps only maxPages in memory', async () => {
    const inbox = vi.fn(fakeInbox({ total: 100_000 }))
    const w = new InboxWindow(async (q) => inbox(q), query, { pageSize: 100, maxPages: 10, maxSkip: 2000 })
    w.setRange(0, 10)
    await settle(w)
    w.setRange(50_000, 50_010)
    await settle(w)
    expect(w.rowAt(50_000)?.id).toBe('c50000')
    expect(w.rowAt(50_010)?.id).toBe('c50010')
    expect(w.rowsInMemory()).toBeLessThanOrEqual(1000)
    // ~25 strides of 2000 rows, then a few pages: not 500 single pages.
    expect(inbox.mock.calls.length).toBeLessThan(40)
    const biggest = Math.max(...inbox.mock.calls.map((c) => (c[0] as InboxRequest).limit ?? 0))
    expect(biggest).toBeLessThanOrEqual(2000)
  })

  it('refresh reloads the pages on screen and keeps rows visible meanwhile', async () => {
    let n = 0
    const base = fakeInbox({ total: 300 })
    const w = new InboxWindow(
      async (q) => {
        const p = base(q)
        p.rows = (p.rows ?? []).map((r) => ({ ...r, preview: `v${n}` }))
        return p
      },
      query,
      { pageSize: 50 },
    )
    w.setRange(0, 10)
    await settle(w)
    expect(w.rowAt(0)?.preview).toBe('v0')
    n = 1
    w.refresh()
    expect(w.rowAt(0)?.preview).toBe('v0') // still shown while reloading
    await settle(w)
    expect(w.rowAt(0)?.preview).toBe('v1')
    expect(w.rowAt(55)?.preview).toBe('v1')
  })

  it('grows its length page by page when the Go side gives no total', async () => {
    const w = new InboxWindow(async (q) => fakeInbox({ total: 120, withTotal: false })(q), query, { pageSize: 50 })
    w.setRange(0, 10)
    await settle(w)
    expect(w.total).toBe(150) // 100 rows seen, and a next page
    w.setRange(100, 110)
    await settle(w)
    expect(w.total).toBe(120)
  })

  it('reports errors', async () => {
    const w = new InboxWindow(async () => {
      throw new Error('boom')
    }, query)
    w.setRange(0, 10)
    await settle(w)
    expect(w.error).toBe('boom')
  })
})

describe('InboxWindow under a busy inbox', () => {
  it('keeps showing fresher rows while changes keep coming', async () => {
    let version = 0
    const base = fakeInbox({ total: 120 })
    let w: InboxWindow
    let refreshes = 0
    w = new InboxWindow(
      async (q) => {
        const p = base(q)
        const v = version
        p.rows = (p.rows ?? []).map((r) => ({ ...r, preview: `v${v}` }))
        // every answer arrives after yet another change
        if (refreshes < 5) {
          refreshes++
          version++
          queueMicrotask(() => w.refresh())
        }
        return p
      },
      { view: 'open', sort: 'activity' },
      { pageSize: 50 },
    )
    w.setRange(0, 10)
    await settle(w)
    expect(w.rowAt(0)?.preview).toBe(`v${version}`)
  })
})
