// The one module the UI talks to the Go side through. Methods carry the Go names and argument
// order of app.App; the transport (Wails bindings or the HTTP bridge) is picked at first use.
import { hasWails, httpTransport, wailsTransport, type Listener, type Transport } from './transport'
import type {
  AttrValue,
  AttributeDef,
  BulkAction,
  BulkResult,
  ConnectPlan,
  ContactHistory,
  ConversationDetail,
  Info,
  InboxPage,
  InboxRequest,
  InboxQuery,
  MadeEvent,
  NewConversation,
  Participant,
  Priority,
  SavedView,
  SearchHit,
  Settings,
  Status,
  TimelinePage,
  View,
  ViewCount,
} from './types'

export * from './types'
export { ApiError, normalizeError, describeError } from './errors'
export { EventReconnected } from './transport'
export type { Transport } from './transport'

let transport: Transport | null = null

/** The transport in use: Wails when window.go.app.App exists, else the HTTP bridge. */
export function getTransport(): Transport {
  if (!transport) transport = hasWails() ? wailsTransport() : httpTransport()
  return transport
}

/** Replaces the transport (tests inject a fake; nothing else should call this). */
export function setTransport(t: Transport | null) {
  transport = t
}

function call<T>(method: string, ...args: unknown[]): Promise<T> {
  return getTransport().call(method, args) as Promise<T>
}

/** Subscribes to a Go event (names in ../events.ts); returns the unsubscribe. */
export function on(event: string, cb: Listener): () => void {
  return getTransport().subscribe(event, cb)
}

export const api = {
  Info: () => call<Info>('Info'),
  Status: () => call<Status>('Status'),
  Inbox: (q: InboxRequest) => call<InboxPage>('Inbox', q),
  Counts: () => call<Partial<Record<View, ViewCount>> | null>('Counts'),
  Conversation: (id: string) => call<ConversationDetail>('Conversation', id),
  Contact: (id: string) => call<ContactHistory>('Contact', id),
  Timeline: (id: string, cursor: string, limit: number) => call<TimelinePage>('Timeline', id, cursor, limit),
  Search: (query: string, limit: number) => call<SearchHit[] | null>('Search', query, limit),

  Send: (id: string, text: string) => call<MadeEvent | null>('Send', id, text),
  AddNote: (id: string, text: string) => call<MadeEvent | null>('AddNote', id, text),
  StartThread: (id: string, topic: string) => call<MadeEvent | null>('StartThread', id, topic),
  EndThread: (id: string, topic: string) => call<MadeEvent | null>('EndThread', id, topic),
  Resolve: (id: string) => call<MadeEvent | null>('Resolve', id),
  Reopen: (id: string) => call<MadeEvent | null>('Reopen', id),
  Snooze: (id: string, until: number) => call<null>('Snooze', id, until),
  TakeOver: (id: string) => call<null>('TakeOver', id),
  Bulk: (ids: string[], action: BulkAction) => call<BulkResult>('Bulk', ids, action),
  SetPriority: (id: string, priority: Priority) => call<MadeEvent | null>('SetPriority', id, priority),
  ChangeTags: (id: string, add: string[], remove: string[]) => call<MadeEvent | null>('ChangeTags', id, add, remove),
  Assign: (id: string, participantId: string) => call<MadeEvent | null>('Assign', id, participantId),
  Join: (id: string, role: 'agent' | 'supervisor') => call<MadeEvent | null>('Join', id, role),
  Leave: (id: string) => call<MadeEvent | null>('Leave', id),
  SetAttributes: (id: string, values: Record<string, AttrValue>) => call<MadeEvent | null>('SetAttributes', id, values),
  MarkSeen: (id: string) => call<MadeEvent | null>('MarkSeen', id),
  Retry: (eventId: string) => call<MadeEvent | null>('Retry', eventId),
  Discard: (eventId: string) => call<MadeEvent | null>('Discard', eventId),
  CreateConversation: (c: NewConversation) => call<string>('CreateConversation', c),
  Typing: (id: string, on: boolean) => call<null>('Typing', id, on),

  Attributes: () => call<AttributeDef[] | null>('Attributes'),
  Teammates: () => call<Participant[] | null>('Teammates'),
  Draft: (id: string) => call<string | null>('Draft', id),
  SaveDraft: (id: string, text: string) => call<null>('SaveDraft', id, text),
  Views: () => call<SavedView[] | null>('Views'),
  SaveView: (name: string, query: InboxQuery) => call<null>('SaveView', name, query),
  DeleteView: (name: string) => call<null>('DeleteView', name),
  Settings: () => call<Settings>('Settings'),
  ConnectPlan: (relayUrl: string, workspace: string) => call<ConnectPlan>('ConnectPlan', relayUrl, workspace),
  Connect: (relayUrl: string, workspace: string, token: string) => call<null>('Connect', relayUrl, workspace, token),
  Disconnect: () => call<null>('Disconnect'),
  UseLocalInbox: () => call<null>('UseLocalInbox'),
}

export type Api = typeof api
