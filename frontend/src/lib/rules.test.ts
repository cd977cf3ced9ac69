import { describe, expect, it } from 'vitest'
import { countsAsUnread, parseId, roleOfId, settlePending } from './rules'
// Written from conv.RoleOfID, conv.Settle and conv.CountsAsUnread by conv's vector tests.
import idVectors from '../../../backend/conv/testdata/ids.json'
import settleVectors from '../../../backend/conv/testdata/settle.json'
import unreadVectors from '../../../backend/conv/testdata/unread.json'

describe('the id scheme (conv.RoleOfID)', () => {
  it('has the vectors', () => expect(idVectors.length).toBeGreaterThanOrEqual(10))
  it.each(idVectors.map((v) => [v.id, v] as const))('%j', (_, v) => {
    expect(parseId(v.id)).toEqual({ role: v.role, valid: v.valid })
    expect(roleOfId(v.id)).toBe(v.role)
  })
})

describe('settling a pending event (conv.Settle)', () => {
  it('has the vectors', () => expect(settleVectors.length).toBeGreaterThanOrEqual(8))
  it.each(settleVectors.map((v) => [v.name, v] as const))('%s', (_, v) => {
    const error = 'error' in v ? (v.error as { code: string; message: string }) : null
    expect(settlePending(v.kind, { seq: v.seq, error }, v.applied)).toBe(v.settlement)
  })
})

describe('unread (conv.CountsAsUnread), the same implementation', () => {
  it.each(unreadVectors.map((v) => [v.name, v] as const))('%s', (_, v) => {
    expect(countsAsUnread(v.viewer, v.kind, v.actor)).toBe(v.unread)
  })
})
