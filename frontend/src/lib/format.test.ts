import { describe, expect, it } from 'vitest'
import { contactEmailBeside, contactName, conversationNamer, isEndUser, nameIn, nameOf, roleOfId } from './format'

const dana = { id: 'contact:42', role: 'contact' as const, name: 'Dana Whitfield' }
const anonymous42 = { id: 'contact:42', role: 'contact' as const }
const visitor = { id: 'visitor:0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d', role: 'visitor' as const }

describe('contactName', () => {
  it('shows the name, else the email, else a labelled id — never a bare id', () => {
    const cases: [Parameters<typeof contactName>[0], string | undefined, string][] = [
      [dana, 'dana@example.com', 'Dana Whitfield'],
      [dana, undefined, 'Dana Whitfield'],
      [{ ...dana, name: '  ' }, 'dana@example.com', 'dana@example.com'],
      [anonymous42, 'dana@example.com', 'dana@example.com'],
      [anonymous42, '', 'Contact 42'],
      [anonymous42, undefined, 'Contact 42'],
      [{ id: 'contact:maria@example.com', role: 'contact' as const }, undefined, 'Contact maria@example.com'],
      [visitor, undefined, 'Visitor'],
      [{ ...visitor, name: 'Dana' }, undefined, 'Dana'],
      [{ id: '', role: 'contact' as const }, undefined, 'Contact'],
      [null, undefined, 'Contact'],
    ]
    for (const [p, email, want] of cases) expect(contactName(p, email), `contactName(${JSON.stringify(p)}, ${email})`).toBe(want)
  })

  it('puts the email beside the name only when the name is not the email itself', () => {
    expect(contactEmailBeside(dana, 'dana@example.com')).toBe('dana@example.com')
    expect(contactEmailBeside(anonymous42, 'dana@example.com')).toBe('')
    expect(contactEmailBeside(dana, undefined)).toBe('')
  })
})

describe('nameOf', () => {
  it('labels contacts and visitors without a name, and names the team from its id', () => {
    expect(nameOf(anonymous42)).toBe('Contact 42')
    expect(nameOf(visitor)).toBe('Visitor')
    expect(nameOf(dana)).toBe('Dana Whitfield')
    expect(nameOf({ id: 'agent:ana', role: 'agent' as const })).toBe('Ana')
    expect(nameOf({ id: 'system', role: 'system' as const })).toBe('Threadline')
  })
})

describe('nameIn', () => {
  it('names every end user of a conversation with its contact: one name after a visitor identifies', () => {
    const names = new Map([['agent:ana', 'Ana Souza']])
    const name = conversationNamer(dana, 'dana@example.com', names)
    expect(name(visitor)).toBe('Dana Whitfield') // the visitor it was identified from
    expect(name({ id: 'contact:42', role: 'contact' as const })).toBe('Dana Whitfield') // an actor without its name
    expect(name({ id: 'agent:ana', role: 'agent' as const })).toBe('Ana Souza')
    expect(name({ id: 'agent:ben', role: 'agent' as const, name: 'Ben Carter' })).toBe('Ben Carter')
    expect(name(null)).toBe('Someone')
    // Without a name, the email; without either, a label.
    expect(nameIn(visitor, anonymous42, 'dana@example.com')).toBe('dana@example.com')
    expect(nameIn(visitor, anonymous42, undefined)).toBe('Contact 42')
    expect(nameIn(visitor, visitor, undefined)).toBe('Visitor')
  })

  it('knows end users and roles by id', () => {
    expect(isEndUser(visitor)).toBe(true)
    expect(isEndUser({ id: 'contact:42', role: 'agent' as const })).toBe(true)
    expect(isEndUser({ id: 'agent:ana', role: 'agent' as const })).toBe(false)
    expect(roleOfId('contact:42')).toBe('contact')
    expect(roleOfId('ai:faq')).toBe('assistant')
    expect(roleOfId('system')).toBe('system')
  })
})
