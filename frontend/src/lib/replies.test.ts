import { describe, expect, it } from 'vitest'
import { fillVariables, fuzzyScore, matchReplies, pickerQuery, type SavedReply } from './replies'

const vars = { contactName: 'Maria Garcia', contactEmail: 'maria@example.com', agentName: 'Ana Souza', subject: 'Server offline' }

describe('fillVariables', () => {
  it('fills the four variables, with or without spaces in the braces', () => {
    expect(fillVariables('Hi {{contact.name}} ({{ contact.email }}), I am {{agent.name}} about “{{conversation.subject}}”.', vars)).toBe(
      'Hi Maria Garcia (maria@example.com), I am Ana Souza about “Server offline”.',
    )
    expect(fillVariables('{{contact.name}} {{contact.name}}', vars)).toBe('Maria Garcia Maria Garcia')
  })
  it('leaves unknown variables visible', () => {
    expect(fillVariables('Order {{order.id}} for {{contact.name}}', vars)).toBe('Order {{order.id}} for Maria Garcia')
    expect(fillVariables('{{ }} and {{contact.name', vars)).toBe('{{ }} and {{contact.name')
  })
  it('makes a missing value empty, or its fallback', () => {
    const none = { agentName: 'Ana' }
    expect(fillVariables('Hi {{contact.name}}, {{agent.name}} here', none)).toBe('Hi , Ana here')
    expect(fillVariables('Hi {{contact.name | there}}, {{ contact.email|no email }}', none)).toBe('Hi there, no email')
    expect(fillVariables('Hi {{contact.name | there}}', vars)).toBe('Hi Maria Garcia')
    expect(fillVariables('Hi {{contact.name}}', { contactName: '   ' })).toBe('Hi ')
  })
})

describe('pickerQuery', () => {
  it('opens on a "/" at the start of a one-line text', () => {
    expect(pickerQuery('/')).toBe('')
    expect(pickerQuery('/refund po')).toBe('refund po')
    expect(pickerQuery('hello /hi')).toBeNull()
    expect(pickerQuery(' /hi')).toBeNull()
    expect(pickerQuery('/hi\nthere')).toBeNull()
    expect(pickerQuery('')).toBeNull()
  })
})

describe('fuzzy matching', () => {
  const replies: SavedReply[] = [
    { id: '1', title: 'Greeting', text: 'Hi {{contact.name}}', shortcut: 'hi' },
    { id: '2', title: 'Refund policy', text: 'Refunds are prorated.' },
    { id: '3', title: 'Password reset', text: 'Reset it at example.com/reset', shortcut: 'reset' },
    { id: '4', title: 'Closing', text: 'Anything else? If not, I will close this.', shortcut: 'bye' },
    { id: '5', title: 'Highlights', text: 'x', shortcut: 'high' },
    { id: '6', title: 'Failed save', text: 'x', shortcut: 'fail', state: 'failed' },
  ]
  const titles = (q: string) => matchReplies(q, replies).map((r) => r.title)

  it('scores subsequences, word starts and runs', () => {
    expect(fuzzyScore('rp', 'Refund policy')).toBeGreaterThan(0)
    expect(fuzzyScore('xyz', 'Refund policy')).toBe(-1)
    expect(fuzzyScore('ref', 'Refund policy')).toBeGreaterThan(fuzzyScore('rfd', 'Refund policy'))
    expect(fuzzyScore('pol', 'Refund policy')).toBeGreaterThan(fuzzyScore('oli', 'Refund policy'))
  })
  it('ranks an exact shortcut first, then shortcut prefixes, titles, texts', () => {
    expect(titles('hi')[0]).toBe('Greeting') // the shortcut hi, before Highlights (hi…)
    expect(titles('hi')[1]).toBe('Highlights')
    expect(titles('refpol')).toEqual(['Refund policy'])
    expect(titles('pass')).toEqual(['Password reset'])
    expect(titles('prorated')).toEqual(['Refund policy'])
    expect(titles('zzz')).toEqual([])
  })
  it('lists every usable reply by title for an empty query, never a failed save', () => {
    expect(titles('')).toEqual(['Closing', 'Greeting', 'Highlights', 'Password reset', 'Refund policy'])
    expect(titles('fail')).toEqual([])
  })
})
