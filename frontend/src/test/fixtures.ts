// Test-only builders for the Go side's JSON shapes.
import type { Conversation, ConversationDetail, Item, Kind, Row, Status, SyncState } from '../api/types'
import { makeRow } from './rows'

export const ME = { id: 'agent:me', role: 'agent' as const, name: 'Sam Lee' }
export const ANA = { id: 'agent:ana', role: 'agent' as const, name: 'Ana Souza' }
export const MARIA = { id: 'contact:maria', role: 'contact' as const, name: 'Maria Silva' }

/** A sync state: state and what the test sets, the rest zero. */
export function syncOf(s: Partial<SyncState> & Pick<SyncState, 'state'>): SyncState {
  return { received: 0, backlog: 0, seq: 0, identity: ME, ...s }
}

export function makeStatus(over: Partial<Status> = {}): Status {
  return { sync: { state: 'online', received: 0, backlog: 0, identity: ME, seq: 0 }, pending: 0, failed: 0, totalUnread: 0, ...over }
}

export function makeConversation(id: string, over: Partial<Conversation> = {}): Conversation {
  return {
    id,
    contact: MARIA,
    subject: 'Server offline',
    createdBy: MARIA,
    createdAt: Date.now() - 3_600_000,
    createdSeq: 1,
    status: 'open',
    priority: 'medium',
    tags: [],
    participants: [],
    attributes: {},
    threads: 0,
    seen: {},
    lastSeq: 10,
    lastItemSeq: 10,
    lastContactSeq: 10,
    lastActivityAt: Date.now(),
    lastMessageBy: MARIA,
    messages: 1,
    notes: 0,
    ...over,
  }
}

export function makeDetail(id: string, conv: Partial<Conversation> = {}, row: Partial<Row> = {}, seen: ConversationDetail['seen'] = []): ConversationDetail {
  const c = makeConversation(id, conv)
  return { conversation: c, row: makeRow(0, { id, contact: c.contact, status: c.status, priority: c.priority, ...row }), seen }
}

let n = 0
export function item(kind: Kind, over: Partial<Item> = {}): Item {
  n++
  return {
    id: `i${n}`,
    kind,
    actor: MARIA,
    seq: n,
    at: Date.now() - 60_000,
    mine: false,
    ...over,
  }
}
