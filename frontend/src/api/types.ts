// The JSON shapes of the Go side are generated from the Go types (./generated.ts, written by
// app/tsgen; TestGenerated fails when it is stale). This file gives some of them the names the UI
// has always used, and adds the UI's own types: what it builds, never what Go sends.
import type { Participant, Priority, Query, SortOrder } from './generated'

export type {
  AttributeDef,
  BulkAction,
  BulkResult,
  ClientStatus as SyncState,
  ConnectPlan,
  Contact as ContactHistory,
  Conversation,
  ConversationView as ConversationDetail,
  ConvError as RejectError,
  ConvStatus,
  Count as ViewCount,
  Hit as SearchHit,
  Info,
  Item,
  KeptInbox,
  Kind,
  NewConversation,
  Notified,
  NotifySettings,
  OpenRequest,
  Page as InboxPage,
  Participant,
  Priority,
  Query as InboxRequest,
  Role,
  Row,
  SavedView,
  SeenMark,
  SortOrder,
  Settings,
  State as SyncStateName,
  Status,
  Thread,
  TimelinePage,
  TypingData as TypingEvent,
  View,
} from './generated'

/** The local participant (Info.me). */
export type Me = Participant

export const PRIORITIES: Priority[] = ['urgent', 'high', 'medium', 'low']

/** What the inbox list shows: a Query's view, filters and order, without its paging; the UI always
 * says the order. */
export type InboxQuery = Omit<Query, 'cursor' | 'limit'> & { sort: SortOrder }

/** A custom attribute's value, as the attributes panel edits it. */
export type AttrValue = string | number | boolean | null
