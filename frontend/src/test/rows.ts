// Test-only row factories and an in-memory inbox that pages like the Go side (keyset cursors).
import type { InboxPage, InboxRequest, Row } from '../api/types'

export function makeRow(i: number, over: Partial<Row> = {}): Row {
  return {
    id: `c${i}`,
    contact: { id: `contact:${i}`, role: 'contact' as const, name: `Customer ${i}` },
    subject: `Subject ${i}`,
    preview: `Last message ${i}`,
    previewBy: { id: `contact:${i}`, role: 'contact' as const },
    lastActivityAt: Date.now() - i * 60_000,
    status: 'open',
    priority: 'medium',
    tags: [],
    assignee: null,
    unread: 0,
    inThread: false,
    pending: 0,
    failed: 0,
    ...over,
  }
}

export interface FakeInboxOptions {
  total: number
  withTotal?: boolean // include total in pages (default true)
  row?: (i: number) => Row
}

/** An Inbox handler over `total` synthetic rows. Cursors are "k<index>" strings. */
export function fakeInbox(opts: FakeInboxOptions) {
  const row = opts.row ?? ((i: number) => makeRow(i))
  const handler = (q: InboxRequest): InboxPage => {
    const limit = q.limit ?? 50
    let start = 0
    if (q.cursor) start = Number(q.cursor.slice(1))
    const end = Math.min(opts.total, start + limit)
    const rows: Row[] = []
    for (let i = start; i < end; i++) rows.push(row(i))
    const page: InboxPage = { rows }
    if (end < opts.total) page.next = `k${end}`
    if (opts.withTotal !== false) page.total = opts.total
    return page
  }
  return handler
}
