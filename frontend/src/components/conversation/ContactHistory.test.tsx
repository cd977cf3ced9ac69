// Issue 15 parts 5 and 9: the contact's history in the details (first seen, its other
// conversations, one click opens them), a details panel that always closes, long subjects and
// topics with a tooltip, lifecycle lines with their time, attribute edits in a row as one line.
import { fireEvent, screen, waitFor, within } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import { renderApp } from '../../test/app'
import { ANA, item, makeDetail } from '../../test/fixtures'
import { fakeInbox, makeRow } from '../../test/rows'
import { mergeAttributeRuns } from './Timeline'

const DANA = { id: 'contact:42', role: 'contact' as const, name: 'Dana Whitfield' }
const FIRST = Date.UTC(2026, 0, 5, 9, 30)
const LONG_TOPIC = 'T'.repeat(200)

async function openDetails() {
  await screen.findByTestId('conversation')
  if (!screen.queryByTestId('details')) fireEvent.click(screen.getByTestId('toggle-details'))
  return screen.findByTestId('details')
}

describe('contact history', () => {
  it('shows first seen and the other conversations; one click opens one', async () => {
    const { t } = renderApp({
      Inbox: fakeInbox({ total: 3, row: (i) => makeRow(i, i === 0 ? { contact: DANA } : {}) }),
      Conversation: (id: string) =>
        makeDetail(id, { contact: DANA, subject: id === 'c7' ? 'Refund for order 7' : 'Invoice', createdAt: id === 'c7' ? FIRST : FIRST + 1e9 }),
      Contact: (cid: string) => ({
        id: cid,
        name: 'Dana Whitfield',
        firstSeen: FIRST,
        conversations: [makeRow(0, { contact: DANA, subject: 'Invoice' }), makeRow(7, { contact: DANA, subject: 'Refund for order 7', status: 'resolved' })],
      }),
    })
    fireEvent.click((await screen.findAllByTestId('inbox-row'))[0])
    const details = await openDetails()
    const first = await within(details).findByTestId('contact-first-seen')
    expect(first.textContent).toMatch(/^First seen /)
    const others = within(details).getAllByTestId('contact-conversation')
    expect(others).toHaveLength(1) // the conversation shown is not "other"
    expect(others[0]).toHaveTextContent('Refund for order 7')
    expect(others[0]).toHaveTextContent('Resolved')
    expect(t.callsTo('Contact')[0]).toEqual(['contact:42'])
    fireEvent.click(others[0])
    await waitFor(() => expect(screen.getByTestId('conversation')).toHaveAttribute('data-conv', 'c7'))
    expect(screen.getByTestId('conversation-subject')).toHaveTextContent('Refund for order 7')
  })

  it('closes the details from their own header, and the labelled button opens them again', async () => {
    renderApp({ Contact: () => ({ id: 'contact:0', conversations: [] }) })
    fireEvent.click((await screen.findAllByTestId('inbox-row'))[0])
    await openDetails()
    fireEvent.click(screen.getByRole('button', { name: 'Close details' }))
    expect(screen.queryByTestId('details')).toBeNull()
    const toggle = screen.getByTestId('toggle-details')
    expect(toggle).toHaveTextContent('Details')
    fireEvent.click(toggle)
    expect(await screen.findByTestId('details')).toBeInTheDocument()
  })

  it('gives long subjects and topics a tooltip', async () => {
    const subject = 'S'.repeat(180)
    renderApp({
      Conversation: (id: string) => makeDetail(id, { subject, thread: { id: 't1', topic: LONG_TOPIC, startedAt: FIRST } as never }),
      Timeline: () => ({ items: [item('thread.started', { topic: LONG_TOPIC, thread: 't1', actor: ANA })] }),
    })
    fireEvent.click((await screen.findAllByTestId('inbox-row'))[0])
    expect(await screen.findByTestId('conversation-subject')).toHaveAttribute('title', subject)
    expect(screen.getByTestId('active-thread').getAttribute('title')).toContain(LONG_TOPIC)
    const sep = await screen.findByTestId('thread-separator')
    expect(sep.querySelector('.tl-separator-label')?.getAttribute('title')).toContain(LONG_TOPIC)
  })
})

describe('lifecycle lines', () => {
  it('show their time', async () => {
    renderApp({ Timeline: () => ({ items: [item('status.changed', { actor: ANA, data: { status: 'resolved' } })] }) })
    fireEvent.click((await screen.findAllByTestId('inbox-row'))[0])
    const ev = await screen.findByTestId('timeline-event')
    expect(within(ev).getByTestId('event-time').textContent).not.toBe('')
  })

  it('read several attribute edits in a row as one line', () => {
    const a = item('attributes.set', { actor: ANA, at: 1000, data: { values: { plan: 'free' } } })
    const b = item('attributes.set', { actor: ANA, at: 2000, data: { values: { plan: 'pro', seats: 3 } } })
    const c = item('attributes.set', { actor: ANA, at: 3000, data: { values: { vip: true } } })
    const other = item('attributes.set', { actor: DANA, at: 4000, data: { values: { plan: 'free' } } })
    const failed = item('attributes.set', { actor: DANA, at: 5000, mine: false, state: 'failed', data: { values: { x: 1 } } })
    const out = mergeAttributeRuns([a, b, c, other, failed])
    expect(out.map((i) => i.id)).toEqual([a.id, other.id, failed.id])
    expect(out[0].at).toBe(3000)
    expect(out[0].data).toEqual({ values: { plan: 'pro', seats: 3, vip: true } })
    // The "New messages" divider's item starts a run of its own.
    expect(mergeAttributeRuns([a, b, c], b.id).map((i) => i.id)).toEqual([a.id, b.id])
  })
})
