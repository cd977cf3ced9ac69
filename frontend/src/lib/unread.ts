// Rule 8 (DESIGN §4), as conv.CountsAsUnread decides it: an item is unread for a viewer when it is
// a message from the other side — for the team (agents, the bot, supervisors), the contact's or
// visitor's; for a contact or visitor, the team's. Teammates' replies and notes, the bot's answers
// and lifecycle lines never are. The Go side counts unread (rows, views, the title); the UI decides
// only where the "New messages" divider goes, with this, and unread.test.ts holds it to conv's
// vectors (backend/conv/testdata/unread.json).
import type { Item, Participant } from '../api/types'
import { countsAsUnread } from './rules'

export { countsAsUnread }

/** The first loaded item that is unread for viewer above its seen mark `mark` (the divider's
 * place), or null. Pending items (seq 0) are the viewer's own. */
export function firstUnread(items: Item[], viewer: Participant | null | undefined, mark: number): Item | null {
  if (!viewer) return null
  for (const it of items) if (it.seq > mark && countsAsUnread(viewer, it.kind, it.actor)) return it
  return null
}
