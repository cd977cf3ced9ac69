// Wherever a contact appears, the desktop shows its name (and its email beside it in the header and
// the details panel), never a raw id where a name is known; a visitor who identified shows with its
// contact's name in the whole timeline.
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import { describe, expect, it, vi } from 'vitest'
import { renderApp } from '../test/app'
import { ANA, ME, item, makeDetail } from '../test/fixtures'
import { fakeInbox, makeRow } from '../test/rows'
import { InboxWindow } from '../state/inboxWindow'
import { InboxList } from './InboxList'

const VISITOR = { id: 'visitor:0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d', role: 'visitor' as const }
const DANA = { id: 'contact:42', role: 'contact' as const, name: 'Dana Whitfield' }
const EMAIL = 'dana@example.com'

/** No raw id of Dana's (or of the visitor she was) anywhere in el's text. */
function expectNoRawId(el: HTMLElement) {
  const text = el.textContent ?? ''
  expect(text).not.toMatch(/contact:42|visitor:|\b42\b(?! )/)
}

describe('contact names', () => {
  it('shows the name and email in the row, header, details, timeline, seen-by, typing and composer', async () => {
    const rows = fakeInbox({ total: 3, row: (i) => (i === 0 ? makeRow(0, { contact: DANA, contactEmail: EMAIL }) : makeRow(i)) })
    const { t } = renderApp({
      Inbox: rows,
      Conversation: (id: string) =>
        makeDetail(id, { contact: DANA, contactEmail: EMAIL, createdBy: VISITOR }, { contactEmail: EMAIL }, [{ participant: 'contact:42', upTo: 6 }]),
      Timeline: () => ({
        items: [
          item('conversation.created', { id: 'i1', seq: 1, actor: VISITOR }),
          item('message.sent', { id: 'i2', seq: 2, text: 'Hi, anyone there?', actor: VISITOR }),
          item('contact.identified', { id: 'i3', seq: 3, actor: { id: 'system', role: 'system' as const }, data: { visitor: VISITOR, contact: { id: 'contact:42', role: 'contact' as const } } }),
          item('message.sent', { id: 'i4', seq: 4, text: 'It is me, logged in now', actor: { id: 'contact:42', role: 'contact' as const } }),
          item('message.sent', { id: 'i5', seq: 5, text: 'Hello Dana', actor: ANA }),
          item('message.sent', { id: 'i6', seq: 6, text: 'Thanks!', actor: { id: 'contact:42', role: 'contact' as const } }),
        ],
      }),
      Teammates: () => [ME, ANA],
    })
    const row = (await screen.findAllByTestId('row-contact'))[0]
    expect(row).toHaveTextContent('Dana Whitfield')
    expect(row).toHaveAttribute('title', `Dana Whitfield <${EMAIL}>`)

    fireEvent.click(screen.getAllByTestId('inbox-row')[0])
    const pane = await screen.findByTestId('conversation')
    expect(screen.getByTestId('conversation-contact')).toHaveTextContent('Dana Whitfield')
    expect(screen.getByTestId('conversation-email')).toHaveTextContent(EMAIL)
    await waitFor(() => expect(screen.getAllByTestId('timeline-message')).toHaveLength(4))

    // One name for every item of the end user, before and after identification.
    const authors = screen.getAllByTestId('timeline-message').map((m) => m.querySelector('.tl-author')?.textContent)
    expect(authors).toEqual(['Dana Whitfield', 'Dana Whitfield', 'Ana Souza', 'Dana Whitfield'])
    const events = screen.getAllByTestId('timeline-event').map((e) => e.querySelector('.tl-event-text')?.textContent)
    expect(events).toEqual(['Dana Whitfield started the conversation', 'Visitor identified as Dana Whitfield'])
    expect(screen.getByTestId('seen-by')).toHaveTextContent('Seen by Dana Whitfield')
    expect(screen.getByTestId('composer-input')).toHaveAttribute('placeholder', 'Reply to Dana Whitfield…')

    // The visitor she was, typing (a typing event carries only an id): her name.
    act(() => t.emit('typing', { conv: 'c0', participant: VISITOR, on: true }))
    expect(await within(pane).findByText('Dana Whitfield is typing…')).toBeInTheDocument()
    await waitFor(() => expect(screen.getAllByTestId('inbox-row')[0]).toHaveTextContent('Dana Whitfield is typing…'))

    // The details panel: name, email, and the website's id, labelled.
    if (!screen.queryByTestId('details')) fireEvent.click(screen.getByTestId('toggle-details'))
    const details = within(await screen.findByTestId('details-contact'))
    expect(details.getByTestId('details-contact-name')).toHaveTextContent('Dana Whitfield')
    expect(details.getByTestId('details-contact-email')).toHaveTextContent(EMAIL)
    expect(details.getByTestId('details-contact-id')).toHaveTextContent('Contact ID 42')

    // No raw id anywhere the contact appears (the details' labelled id aside).
    expectNoRawId(screen.getByTestId('conversation-contact').closest('header') as HTMLElement)
    expectNoRawId(screen.getByTestId('timeline'))
    expectNoRawId(screen.getAllByTestId('inbox-row')[0])
  })

  it('shows the email, else a labelled id, when no name is known', async () => {
    const rows = [
      makeRow(0, { contact: { id: 'contact:42', role: 'contact' as const }, contactEmail: EMAIL }),
      makeRow(1, { contact: { id: 'contact:43', role: 'contact' as const } }),
      makeRow(2, { contact: VISITOR }),
    ]
    const win = new InboxWindow(async () => ({ rows, total: 3 }), { view: 'open', sort: 'activity' }, { pageSize: 50 })
    const typing = new Map([['c1', { id: 'contact:43', role: 'contact' as const }]])
    render(<InboxList win={win} activeIndex={0} selectedId={null} onOpen={vi.fn()} typingByConv={typing} />)
    await waitFor(() => expect(screen.getAllByTestId('row-contact')).toHaveLength(3))
    expect(screen.getAllByTestId('row-contact').map((r) => r.textContent)).toEqual([EMAIL, 'Contact 43', 'Visitor'])
    expect(screen.getAllByTestId('inbox-row')[1]).toHaveTextContent('Contact 43 is typing…')
  })

  it('names the contact of a search hit, with its email as a tooltip', async () => {
    renderApp({
      Search: () => [{ conv: 'c0', kind: 'conversation', snippet: `Dana Whitfield ${EMAIL} 42 Invoice`, contact: DANA, contactEmail: EMAIL, at: Date.now() }],
    })
    await screen.findAllByTestId('inbox-row')
    fireEvent.keyDown(window, { key: '/' })
    fireEvent.change(screen.getByTestId('search-input'), { target: { value: 'dana' } })
    const who = await screen.findByTestId('search-hit-contact')
    expect(who).toHaveTextContent('Dana Whitfield')
    expect(who).toHaveAttribute('title', EMAIL)
  })
})
