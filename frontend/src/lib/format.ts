import type { Participant } from '../api/types'

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR

// Date.prototype.toLocale*String builds a new Intl.DateTimeFormat on every call (~0.1 ms each):
// with a few per timeline item that was a good part of opening a conversation. The formatters
// are made once (same options, so the same text) and dropped when the browser's language changes.
const formatters = new Map<string, Intl.DateTimeFormat>()
let formattersFor = ''
function fmt(key: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const env = typeof navigator === 'undefined' ? '' : navigator.language
  if (env !== formattersFor) {
    formatters.clear()
    formattersFor = env
  }
  let f = formatters.get(key)
  if (!f) {
    f = new Intl.DateTimeFormat(undefined, options)
    formatters.set(key, f)
  }
  return f
}

/** "now", "5m", "3h", "Tue", "Mar 4", "Mar 4, 2023": short, for list rows. */
export function relativeTime(at: number, now = Date.now()): string {
  if (!at) return ''
  const d = now - at
  if (d < MIN) return 'now'
  if (d < HOUR) return `${Math.floor(d / MIN)}m`
  if (d < DAY) return `${Math.floor(d / HOUR)}h`
  const date = new Date(at)
  if (d < 7 * DAY) return fmt('weekday', { weekday: 'short' }).format(date)
  if (date.getFullYear() === new Date(now).getFullYear()) return fmt('monthDay', { month: 'short', day: 'numeric' }).format(date)
  return fmt('monthDayYear', { month: 'short', day: 'numeric', year: 'numeric' }).format(date)
}

/** A full local date and time, for tooltips. */
export function fullTime(at: number): string {
  if (!at) return ''
  return fmt('full', { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(at))
}

/** "14:05" today, else "Mar 4, 14:05". */
export function clockTime(at: number, now = Date.now()): string {
  if (!at) return ''
  const d = new Date(at)
  const t = fmt('clock', { hour: '2-digit', minute: '2-digit' }).format(d)
  const n = new Date(now)
  if (n.getFullYear() === d.getFullYear() && n.getMonth() === d.getMonth() && n.getDate() === d.getDate()) return t
  return `${fmt('monthDay', { month: 'short', day: 'numeric' }).format(d)}, ${t}`
}

/** The part of a participant id after its role prefix: "agent:ana" → "ana". */
export function bareId(id: string): string {
  const i = id.indexOf(':')
  return i >= 0 ? id.slice(i + 1) : id
}

/** Whether p is an end user: a contact or a visitor (the customer side). */
export function isEndUser(p: Participant | null | undefined): boolean {
  if (!p) return false
  return p.role === 'contact' || p.role === 'visitor' || p.id.startsWith('contact:') || p.id.startsWith('visitor:')
}

/**
 * A contact's display name: its name when known, else its email, else a labelled id — "Visitor"
 * for an anonymous visitor, "Contact 42" for the website's contact "contact:42". Never a bare id.
 */
export function contactName(contact: Participant | null | undefined, email?: string | null): string {
  const name = contact?.name?.trim()
  if (name) return name
  const mail = email?.trim()
  if (mail) return mail
  if (!contact?.id) return 'Contact'
  if (contact.role === 'visitor' || contact.id.startsWith('visitor:')) return 'Visitor'
  const bare = bareId(contact.id).trim()
  return bare ? `Contact ${bare}` : 'Contact'
}

/** The email to show beside a contact's name: its email, unless the name shown already is it. */
export function contactEmailBeside(contact: Participant | null | undefined, email?: string | null): string {
  const mail = email?.trim() ?? ''
  return mail && contactName(contact, email) !== mail ? mail : ''
}

/** A name to show for a participant: its name, else a name made from its id (a contact or
 * visitor: a labelled id, see contactName). */
export function nameOf(p: Participant | null | undefined, names?: Map<string, string>): string {
  if (!p) return 'Someone'
  if (p.name) return p.name
  const known = names?.get(p.id)
  if (known) return known
  if (p.id === 'system') return 'Threadline'
  if (isEndUser(p)) return contactName(p)
  const bare = bareId(p.id)
  return bare ? bare.charAt(0).toUpperCase() + bare.slice(1) : p.id
}

/**
 * A participant's name inside a conversation whose contact is `contact` (with `email`). Only one end
 * user writes in a conversation (rule 12): every end-user actor — the contact, or the visitor it was
 * identified from — is that contact and shows with its name, so after a visitor identifies the whole
 * timeline shows one name. The team is named from `names`, then from the participant itself.
 */
export function nameIn(p: Participant | null | undefined, contact: Participant | null | undefined, email?: string | null, names?: Map<string, string>): string {
  if (!p) return 'Someone'
  if (isEndUser(p)) return contactName(contact ?? p, email)
  return names?.get(p.id) || nameOf(p, names)
}

/** nameIn for one conversation: (participant) → name. */
export function conversationNamer(contact: Participant | null | undefined, email?: string | null, names?: Map<string, string>): (p: Participant | null | undefined) => string {
  return (p) => nameIn(p, contact, email, names)
}

/** A participant id's role, as far as its prefix says ("contact:42" → contact; conv.RoleOfID). */
export { roleOfId } from './rules'

/** Up to two initials: "Ana Lima" → "AL", "maria" → "MA". */
export function initials(name: string): string {
  const words = name.trim().split(/[\s._-]+/).filter(Boolean)
  if (words.length === 0) return '?'
  if (words.length === 1) return words[0].slice(0, 2).toUpperCase()
  return (words[0][0] + words[words.length - 1][0]).toUpperCase()
}

/** A stable hue for an id, for avatar colours. */
export function hueOf(id: string): number {
  let h = 0
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0
  return h % 360
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`
}

/** UTF-8 length of a string (the relay's limits count bytes). */
export function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length
}

export const MAX_TEXT_BYTES = 32 * 1024
export const MAX_TOPIC_CHARS = 200
export const MAX_TAG_CHARS = 32
export const MAX_TAGS = 20

/** The document and window title for a total unread count. */
export function titleFor(totalUnread: number): string {
  return totalUnread > 0 ? `Threadline (${totalUnread})` : 'Threadline'
}
