import { describe, expect, it } from 'vitest'
import { mergeNewest } from './useConversation'
import type { Item } from '../api/types'

const it_ = (id: string, seq: number): Item => ({ id, kind: 'message.sent', actor: { id: 'x', role: 'contact' as const }, seq, at: 0, mine: false })

describe('mergeNewest', () => {
  it('keeps loaded older items when the fresh newest page overlaps them', () => {
    const loaded = [it_('a', 1), it_('b', 2), it_('c', 3), it_('d', 4)]
    const page = { items: [it_('c', 3), it_('d', 4), it_('e', 5), { ...it_('p', 0), mine: true, state: 'pending' as const }], older: '3' }
    const out = mergeNewest(loaded, 'older-cursor', page)
    expect(out.items.map((i) => i.id)).toEqual(['a', 'b', 'c', 'd', 'e', 'p'])
    expect(out.older).toBe('older-cursor')
  })

  it('drops loaded history when more arrived than a page holds (it would leave a gap)', () => {
    const loaded = [it_('a', 1), it_('b', 2)]
    const page = { items: [it_('x', 50), it_('y', 51)], older: '50' }
    expect(mergeNewest(loaded, 'c', page)).toEqual({ items: page.items, older: '50' })
  })

  it('takes a whole timeline as it is, and drops items that vanished (discarded)', () => {
    const loaded = [it_('a', 1), { ...it_('f', 0), state: 'failed' as const }]
    const page = { items: [it_('a', 1)] }
    expect(mergeNewest(loaded, undefined, page)).toEqual({ items: [it_('a', 1)], older: undefined })
  })
})
