import { describe, expect, it } from 'vitest'
import type { Item, Kind, Participant } from '../api/types'
import { countsAsUnread, firstUnread } from './unread'
// Rule 8's vectors, written from conv.CountsAsUnread by conv's TestUnreadVectors.
import unreadVectors from '../../../backend/conv/testdata/unread.json'

interface Vector {
  name: string
  viewer: Participant
  contact: Participant
  kind: string
  actor: Participant
  unread: boolean
}

const vectors = unreadVectors as Vector[]

describe('countsAsUnread (rule 8)', () => {
  it('has the vectors', () => expect(vectors.length).toBeGreaterThanOrEqual(10))
  it.each(vectors.map((v) => [v.name, v] as const))('%s', (_, v) => {
    expect(countsAsUnread(v.viewer, v.kind, v.actor)).toBe(v.unread)
  })
})

describe('firstUnread', () => {
  const me = { id: 'agent:me', role: 'agent' as const }
  const maria = { id: 'contact:maria', role: 'contact' as const }
  const ana = { id: 'agent:ana', role: 'agent' as const }
  const it_ = (seq: number, kind: Kind, actor: Participant): Item => ({ id: `i${seq}`, seq, kind, actor, at: seq, mine: actor.id === me.id })
  const items = [it_(1, 'message.sent', maria), it_(2, 'note.added', ana), it_(3, 'message.sent', ana), it_(4, 'message.sent', maria), it_(5, 'message.sent', maria)]

  it('is the first of the other side’s messages above my mark', () => {
    expect(firstUnread(items, me, 1)?.id).toBe('i4') // not ana's note, not ana's reply
    expect(firstUnread(items, me, 0)?.id).toBe('i1')
    expect(firstUnread(items, me, 5)).toBeNull()
  })
  it('is the team’s for a contact', () => {
    expect(firstUnread(items, maria, 1)?.id).toBe('i3')
  })
})
