// The JSON shapes the Go side returns. They mirror backend/inbox (Row, Page, Item, TimelinePage,
// SeenMark, OutboxItem), backend/conv (Participant, Conversation) and app/ (Info, Status, …).

export type Role = 'agent' | 'assistant' | 'contact' | 'visitor' | 'supervisor' | 'system'

export interface Participant {
  id: string
  role: Role | string
  name?: string
}

export type ConvStatus = 'open' | 'resolved' | 'snoozed'
export type Priority = 'low' | 'medium' | 'high' | 'urgent'
export const PRIORITIES: Priority[] = ['urgent', 'high', 'medium', 'low']

export type Kind =
  | 'conversation.created'
  | 'message.sent'
  | 'note.added'
  | 'thread.started'
  | 'thread.ended'
  | 'status.changed'
  | 'priority.changed'
  | 'tags.changed'
  | 'assignee.changed'
  | 'participant.joined'
  | 'participant.left'
  | 'attributes.set'
  | 'seen.marked'
  | 'assistant.handed_off'
  | 'contact.identified'
  | 'contact.updated' // state only (the contact's name and email): never a timeline item

/** One line of the inbox list (backend/inbox Row). */
/** A contact's history (App.Contact, from the store's index by contact). */
export interface ContactHistory {
  id: string
  name?: string
  email?: string
  /** The earliest creation among its conversations (Unix ms). */
  firstSeen?: number
  /** Its conversations on this device, newest activity first. */
  conversations: Row[] | null
}

export interface Row {
  id: string
  /** The contact, with its name when the log gives one (contact.updated). */
  contact: Participant
  contactEmail?: string
  subject?: string
  preview?: string
  previewBy: Participant
  lastActivityAt: number // Unix ms
  status: ConvStatus
  priority: Priority
  tags?: string[]
  assignee?: Participant | null
  unread: number
  thread?: string
  inThread: boolean
  pending: number
  failed: number
  /** Status snoozed: when it wakes (Unix ms). */
  snoozedUntil?: number
  /** In assistant mode: the bot's until handoff (the Bot view's). */
  bot?: boolean
  /** Handed off by the bot; no agent has replied or taken it since. */
  needsHuman?: boolean
}

export type View = 'mine' | 'unassigned' | 'open' | 'snoozed' | 'bot' | 'resolved' | 'all'
/** `wake`: the snoozed view's order, soonest to wake first. */
export type SortOrder = 'activity' | 'priority' | 'wake'

/** A view's numbers (Counts): its conversations, and those with something unread. */
export interface ViewCount {
  total?: number
  unread?: number
  /** More unread than counted (an estimate). */
  more?: boolean
}

/** What the inbox list shows: a view, filters and an order. */
export interface InboxQuery {
  view: View
  priority?: Priority
  tag?: string
  unreadOnly?: boolean
  sort: SortOrder
}

/** Inbox(q) arguments: an InboxQuery plus paging. */
export interface InboxRequest extends InboxQuery {
  cursor?: string
  limit?: number
  /**
   * Optional random access: the Go side may answer from this row index (it then echoes
   * `offset` in the page). Without the echo, the client walks the cursors instead.
   */
  offset?: number
}

export interface InboxPage {
  rows: Row[]
  next?: string
  /** How many conversations the query selects (absent: unknown). */
  total?: number
  /** How many of them have something unread. */
  unread?: number
  /** Echo of InboxRequest.offset when the Go side honoured it. */
  offset?: number
}

export interface RejectError {
  code: string
  message: string
}

/** One timeline entry (backend/inbox Item). */
export interface Item {
  id: string
  kind: Kind | string
  actor: Participant
  text?: string
  thread?: string
  topic?: string
  data?: Record<string, unknown> | null
  seq: number // 0 until canonical
  at: number // Unix ms
  mine: boolean
  state?: 'pending' | 'sent' | 'failed' | ''
  error?: RejectError | null
}

export interface TimelinePage {
  items: Item[]
  older?: string
}

export interface SeenMark {
  participant: string
  upTo: number
}

export interface Thread {
  id: string
  topic: string
  startedSeq: number
  startedAt: number
}

export type AttrValue = string | number | boolean | null

/** The conversation as the device shows it (backend/conv Conversation). */
export interface Conversation {
  id: string
  contact: Participant
  /** The contact's email, for a verified contact (contact.updated); absent when unknown. */
  contactEmail?: string
  channel?: string
  subject?: string
  createdBy: Participant
  createdAt: number
  createdSeq: number
  status: ConvStatus
  priority: Priority
  tags?: string[]
  assignee?: Participant | null
  participants?: Participant[]
  attributes?: Record<string, AttrValue>
  assistantId?: string
  assistantMode?: boolean
  thread?: Thread | null
  threads: number
  seen?: Record<string, number>
  lastSeq: number
  lastItemSeq: number
  lastContactSeq: number
  lastActivityAt: number
  lastMessage?: string
  lastMessageBy?: Participant
  messages: number
  notes: number
}

export interface ConversationDetail {
  conversation: Conversation
  row: Row
  seen?: SeenMark[] | null
}

export interface SearchHit {
  conv: string
  item?: string
  kind: 'conversation' | 'message' | 'note'
  snippet: string
  contact: Participant
  contactEmail?: string
  at: number
}

export interface Me {
  id: string
  role: string
  name: string
}

export interface Info {
  version: string
  profile: string
  dataDir: string
  demo: boolean
  me?: Me | null
  workspace?: string
  connected?: boolean
  /** The inbox shown is the relay's, kept after Disconnect: readable and writable, not syncing. */
  disconnected?: boolean
}

export type SyncStateName = 'local' | 'disconnected' | 'offline' | 'connecting' | 'syncing' | 'online' | 'failed'

export interface SyncState {
  state: SyncStateName
  error?: string
  code?: string
  received?: number
  backlog?: number
  attempt?: number
  retryAt?: number | string // Unix ms, or an RFC 3339 time (Go's time.Time)
}

/** Status(); also the data of sync:state and inbox:changed. */
export interface Status {
  sync: SyncState
  pending: number
  failed: number
  totalUnread: number
}

export interface AttributeDef {
  key: string
  type: 'string' | 'number' | 'bool' | 'enum'
  values?: string[]
}

export interface SavedView {
  name: string
  query: InboxQuery
}

export interface Settings {
  relayUrl: string
  workspace: string
  hasToken: boolean
  /** Syncing with the relay. */
  connected?: boolean
  /** The relay's inbox is shown but does not sync (after Disconnect). */
  disconnected?: boolean
  me?: Me | null
  /** The local inbox kept aside at the first connect; UseLocalInbox brings it back. */
  localInbox?: KeptInbox | null
}

export interface KeptInbox {
  conversations: number
  /** Of them, sent to the relay at the first connect. */
  sent: number
  pending?: number
  /** When it was set aside, Unix ms. */
  at: number
}

/** What Connect would do (ConnectPlan), said before anything changes. */
export interface ConnectPlan {
  /** first: a local inbox connects; resume: this relay's inbox syncs again; switch: another relay or workspace. */
  action: 'first' | 'resume' | 'switch'
  /** Conversations made on this computer that go up to the relay. */
  send: number
  /** Conversations that stay on this computer, kept aside. */
  keep: number
  /** Changes not sent yet: sent now (resume) or kept with the inbox set aside (switch). */
  pending: number
  /** The conversations kept are the sample inbox's. */
  demo: boolean
  /** This relay's inbox, kept from an earlier connection, comes back. */
  returns: boolean
  fromRelay?: string
  fromWorkspace?: string
}

export interface NewConversation {
  contactId: string
  contactName: string
  subject: string
  text: string
  priority?: Priority
  tags?: string[]
  attributes?: Record<string, AttrValue>
  /** A teammate's id; absent or '' leaves it unassigned. */
  assignee?: string
}

/** One action for several conversations (Bulk). */
export interface BulkAction {
  kind: 'resolve' | 'reopen' | 'assign' | 'tag' | 'snooze'
  assignee?: string
  tag?: string
  until?: number
}

export interface BulkResult {
  done: number
  failed?: { id: string; error: RejectError }[] | null
}

/** An event the Go side made (what Send, AddNote, … return), as far as the UI reads it. */
export interface MadeEvent {
  id: string
  conv?: string
  kind?: string
  actor?: Participant
  seq?: number
  at?: number
  data?: unknown
}

export interface TypingEvent {
  conv: string
  participant: Participant
  on: boolean
}

/** The Status in an event's arguments, if one is there. */
export function statusIn(args: unknown[]): Status | null {
  for (const a of args) {
    if (a && typeof a === 'object' && 'sync' in a && typeof (a as Status).totalUnread === 'number') return a as Status
  }
  return null
}
