// Saved replies (canned replies): the team's library, kept by the Go side (app.Replies,
// SaveReply, DeleteReply). This module holds what the composer does with them, as pure
// functions: when the "/" picker is open and for what query, how a query ranks the replies
// (fuzzy), and how a reply's variables are filled in.

export interface Reply {
  id: string
  title: string
  text: string
  shortcut?: string
}

/** A reply as the library lists it: "" once logged, pending while waiting to be sent, failed
 * (with the error and the event to Retry or Discard) when the relay refused the save. */
export interface SavedReply extends Reply {
  state?: '' | 'pending' | 'failed'
  error?: { code: string; message: string } | null
  event?: string
}

/** The values a reply's variables take in one conversation. Missing ones are undefined. */
export interface ReplyVars {
  contactName?: string
  contactEmail?: string
  agentName?: string
  subject?: string
}

/** The variables a reply may hold, as the Settings help lists them. */
export const REPLY_VARIABLES: { name: string; what: string }[] = [
  { name: 'contact.name', what: 'the contact’s name' },
  { name: 'contact.email', what: 'the contact’s email' },
  { name: 'agent.name', what: 'your name' },
  { name: 'conversation.subject', what: 'the conversation’s subject' },
]

const VARIABLE = /\{\{\s*([A-Za-z0-9_.]+)\s*(?:\|([^{}]*))?\}\}/g

function valueOf(name: string, vars: ReplyVars): string | null {
  switch (name) {
    case 'contact.name':
      return vars.contactName ?? ''
    case 'contact.email':
      return vars.contactEmail ?? ''
    case 'agent.name':
      return vars.agentName ?? ''
    case 'conversation.subject':
      return vars.subject ?? ''
  }
  return null
}

/**
 * Fills a reply's variables: `{{contact.name}}`, `{{contact.email}}`, `{{agent.name}}`,
 * `{{conversation.subject}}` (spaces inside the braces allowed). A variable whose value is
 * missing becomes its fallback when it has one (`{{contact.name | there}}` → "there"), else
 * nothing. An unknown variable is left as it is written, so the agent sees it before sending.
 */
export function fillVariables(text: string, vars: ReplyVars): string {
  return text.replace(VARIABLE, (whole, name: string, fallback: string | undefined) => {
    const v = valueOf(name, vars)
    if (v === null) return whole
    const trimmed = v.trim()
    if (trimmed) return trimmed
    return fallback?.trim() ?? ''
  })
}

/**
 * The picker's query when the composer's text asks for the picker: it starts with "/" and is
 * one line (the "/" and what follows it). Null when the picker is not asked for.
 */
export function pickerQuery(text: string): string | null {
  if (!text.startsWith('/') || text.includes('\n')) return null
  return text.slice(1)
}

/**
 * How well query matches the characters of s in order (a subsequence), higher is better; -1 when
 * it does not. Consecutive characters, a match at the start and matches at word starts count more.
 */
export function fuzzyScore(query: string, s: string): number {
  const q = query.toLowerCase()
  const t = s.toLowerCase()
  if (!q) return 0
  let score = 0
  let ti = 0
  let prev = -2
  for (const ch of q) {
    if (ch === ' ') continue
    const at = t.indexOf(ch, ti)
    if (at < 0) return -1
    score += 1
    if (at === prev + 1) score += 3 // consecutive
    if (at === 0) score += 5
    else if (/[\s\-_/.,:;()]/.test(t[at - 1])) score += 3 // a word start
    score -= Math.min(at - ti, 5) * 0.1 // a gap
    prev = at
    ti = at + 1
  }
  return score
}

/**
 * The replies query selects, best first: a shortcut that is the query, then shortcuts that
 * start with it, then fuzzy matches of the title, then replies whose text holds the query.
 * An empty query lists them all by title.
 */
export function matchReplies<R extends Reply>(query: string, replies: R[]): R[] {
  const q = query.trim().toLowerCase()
  const usable = replies.filter((r) => (r as SavedReply).state !== 'failed')
  if (!q) return [...usable].sort((a, b) => a.title.localeCompare(b.title))
  const scored: { r: R; score: number }[] = []
  for (const r of usable) {
    const sc = (r.shortcut ?? '').toLowerCase()
    let score = -1
    if (sc && sc === q) score = 10_000
    else if (sc && sc.startsWith(q)) score = 9_000 - sc.length
    else {
      const title = fuzzyScore(q, r.title)
      if (title >= 0) score = 1_000 + title
      else if (sc && fuzzyScore(q, sc) >= 0) score = 500 + fuzzyScore(q, sc)
      else if (r.text.toLowerCase().includes(q)) score = 100
    }
    if (score >= 0) scored.push({ r, score })
  }
  scored.sort((a, b) => b.score - a.score || a.r.title.localeCompare(b.r.title))
  return scored.map((s) => s.r)
}
