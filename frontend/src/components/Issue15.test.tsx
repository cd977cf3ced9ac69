// The inbox's views and numbers, snooze, the bot's lane, bulk actions, the "New messages" divider
// and a complete New conversation dialog, over a fake transport.
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import type { InboxPage, InboxRequest } from '../api/types'
import { renderApp } from '../test/app'
import { ANA, ME, MARIA, item, makeDetail, makeStatus } from '../test/fixtures'
import { fakeInbox, makeRow } from '../test/rows'

const BOT = { id: 'ai:faq', role: 'assistant' as const, name: 'FAQ bot' }

async function ready() {
  await screen.findAllByTestId('inbox-row')
}

function key(k: string, init: KeyboardEventInit = {}, target: Element | Window = window) {
  fireEvent.keyDown(target, { key: k, ...init })
}

describe('views and their numbers', () => {
  it('lists Snoozed and Bot, and the sidebar and the list header say the same numbers', async () => {
    const counts = { mine: { total: 4, unread: 1 }, unassigned: { total: 7, unread: 2 }, open: { total: 20, unread: 3 }, snoozed: { total: 2, unread: 0 }, bot: { total: 5, unread: 0 }, resolved: { total: 9, unread: 0 }, all: { total: 36, unread: 3 } }
    const page = fakeInbox({ total: 20 })
    const { t } = renderApp({
      Counts: () => counts,
      Inbox: (q: InboxRequest): InboxPage => ({ ...page(q), total: counts[q.view].total, unread: counts[q.view].unread }),
    })
    await ready()
    await waitFor(() => expect(screen.getByTestId('view-unassigned-unread')).toHaveTextContent('2'))
    expect(screen.getByTestId('view-open-unread')).toHaveTextContent('3')
    expect(screen.getByTestId('view-snoozed-total')).toHaveTextContent('2')
    expect(screen.getByTestId('view-bot-total')).toHaveTextContent('5')
    expect(screen.getByTestId('list-total')).toHaveTextContent('20')
    expect(screen.getByTestId('list-unread')).toHaveTextContent('3 unread')
    // One call for every number, not two pages a view.
    expect(t.callsTo('Counts').length).toBeGreaterThanOrEqual(1)
    expect(t.callsTo('Inbox').every(([q]) => !(q as InboxRequest).unreadOnly)).toBe(true)

    fireEvent.click(screen.getByTestId('view-unassigned'))
    await waitFor(() => expect(screen.getByTestId('list-total')).toHaveTextContent('7'))
    expect(screen.getByTestId('list-unread')).toHaveTextContent('2 unread')

    // The snoozed view lists by wake time, and each row says when it wakes.
    const wakes = Date.now() + 3 * 3_600_000
    t.handlers.Inbox = (q: InboxRequest) => ({ ...fakeInbox({ total: 2, row: (i) => makeRow(i, { status: 'snoozed', snoozedUntil: wakes + i }) })(q), total: 2, unread: 0 })
    fireEvent.click(screen.getByTestId('view-snoozed'))
    await waitFor(() => expect(t.callsTo('Inbox').some(([q]) => (q as InboxRequest).view === 'snoozed' && (q as InboxRequest).sort === 'wake')).toBe(true))
    expect((await screen.findAllByTestId('row-wakes'))[0].textContent).toMatch(/\d+:\d\d/)
    expect(screen.getByTestId('sort-select')).toHaveValue('wake')
  })

  it('marks the bot’s conversations and those handed off that need a human', async () => {
    renderApp({ Inbox: fakeInbox({ total: 2, row: (i) => makeRow(i, i === 0 ? { bot: true } : { needsHuman: true }) }) })
    await ready()
    const rows = screen.getAllByTestId('inbox-row')
    expect(within(rows[0]).getByTestId('row-bot')).toHaveTextContent('Bot')
    expect(within(rows[1]).getByTestId('row-needs-human')).toHaveTextContent('Needs a human')
  })
})

describe('bulk actions', () => {
  it('chooses rows with Shift-click, Ctrl-click and x, and resolves them at once', async () => {
    const { t } = renderApp({
      Inbox: fakeInbox({ total: 10 }),
      Bulk: (ids: string[]) => ({ done: ids.length, failed: [] }),
    })
    await ready()
    const rows = () => screen.getAllByTestId('inbox-row')
    fireEvent.click(rows()[1]) // opens c1: the anchor
    await screen.findByTestId('conversation')
    fireEvent.click(rows()[3], { shiftKey: true })
    await waitFor(() => expect(screen.getByTestId('bulk-count')).toHaveTextContent('3 chosen'))
    expect(rows().filter((r) => r.dataset.checked === 'true').map((r) => r.dataset.conv)).toEqual(['c1', 'c2', 'c3'])
    fireEvent.click(rows()[6], { ctrlKey: true })
    await waitFor(() => expect(screen.getByTestId('bulk-count')).toHaveTextContent('4 chosen'))
    fireEvent.click(rows()[6], { ctrlKey: true })
    await waitFor(() => expect(screen.getByTestId('bulk-count')).toHaveTextContent('3 chosen'))
    fireEvent.click(screen.getByTestId('bulk-resolve'))
    await waitFor(() => expect(t.callsTo('Bulk')).toEqual([[['c1', 'c2', 'c3'], { kind: 'resolve' }]]))
    expect(await screen.findByTestId('bulk-message')).toHaveTextContent('Resolved 3 conversations')
    expect(screen.queryByTestId('bulk-bar')).toBeNull()

    // x chooses the row under the cursor; Esc lets go.
    key('j')
    key('x')
    await waitFor(() => expect(screen.getByTestId('bulk-count')).toHaveTextContent('1 chosen'))
    key('Escape')
    await waitFor(() => expect(screen.queryByTestId('bulk-bar')).toBeNull())
  })

  it('assigns, tags and snoozes the chosen rows, and says which were refused', async () => {
    const { t } = renderApp({
      Inbox: fakeInbox({ total: 5 }),
      Teammates: () => [ME, ANA, BOT],
      Bulk: (ids: string[]) => ({ done: ids.length - 1, failed: [{ id: ids[0], error: { code: 'forbidden', message: 'not yours' } }] }),
    })
    await ready()
    key('x')
    key('j')
    key('x')
    await screen.findByTestId('bulk-bar')
    const assign = screen.getByTestId('bulk-assign')
    expect(within(assign).queryByText('FAQ bot')).toBeNull() // the bot is not offered
    fireEvent.change(assign, { target: { value: ANA.id } })
    await waitFor(() => expect(t.callsTo('Bulk')[0]).toEqual([['c0', 'c1'], { kind: 'assign', assignee: ANA.id }]))
    expect(await screen.findByTestId('bulk-message')).toHaveTextContent('Assigned 1 conversation; 1 refused: not yours')
    // the refused one stays chosen
    expect(screen.getByTestId('bulk-count')).toHaveTextContent('1 chosen')
    fireEvent.change(screen.getByTestId('bulk-tag-input'), { target: { value: 'vip' } })
    fireEvent.submit(screen.getByTestId('bulk-tag-input').closest('form')!)
    await waitFor(() => expect(t.callsTo('Bulk')[1]).toEqual([['c0'], { kind: 'tag', tag: 'vip' }]))
    key('z')
    fireEvent.click(await screen.findByTestId('snooze-hour'))
    await waitFor(() => expect(t.callsTo('Bulk')).toHaveLength(3))
    const [, action] = t.callsTo('Bulk')[2] as [string[], { kind: string; until: number }]
    expect(action.kind).toBe('snooze')
    expect(Math.abs(action.until - (Date.now() + 3_600_000))).toBeLessThan(60_000)
  })
})

describe('the open conversation', () => {
  it('z snoozes it; a snoozed one says until when and can be unsnoozed', async () => {
    let status: 'open' | 'snoozed' = 'open'
    const until = new Date(Date.now() + 86_400_000)
    until.setHours(9, 0, 0, 0)
    const { t } = renderApp({
      Conversation: (id: string) => makeDetail(id, { status }, status === 'snoozed' ? { status, snoozedUntil: until.getTime() } : {}),
      Snooze: () => {
        status = 'snoozed'
        return null
      },
    })
    await ready()
    fireEvent.click(screen.getAllByTestId('inbox-row')[0])
    await screen.findByTestId('snooze-button')
    key('z')
    const menu = await screen.findByTestId('snooze-menu')
    fireEvent.click(within(menu).getByTestId('snooze-tomorrow'))
    await waitFor(() => expect(t.callsTo('Snooze')).toEqual([['c0', until.getTime()]]))
    await waitFor(() => expect(screen.getByTestId('conversation-status')).toHaveTextContent('Snoozed until tomorrow 9:00'))
    fireEvent.click(screen.getByTestId('unsnooze-button'))
    await waitFor(() => expect(t.callsTo('Reopen')).toEqual([['c0']]))
  })

  it('shows "New messages" above the first item unread at open: the contact’s, not a teammate’s', async () => {
    const items = [
      item('message.sent', { id: 'old', seq: 3, actor: MARIA, text: 'old' }),
      item('note.added', { id: 'n1', seq: 5, actor: ANA, text: 'a teammate’s note' }),
      item('message.sent', { id: 'r1', seq: 6, actor: ANA, text: 'a teammate’s reply' }),
      item('message.sent', { id: 'new', seq: 7, actor: MARIA, text: 'the contact writes' }),
    ]
    let mark = 4
    const { t } = renderApp({
      Conversation: (id: string) => makeDetail(id, { seen: { [ME.id]: mark } }, { unread: mark < 7 ? 1 : 0 }),
      Timeline: () => ({ items }),
      MarkSeen: () => {
        mark = 7
        return null
      },
    })
    await ready()
    fireEvent.click(screen.getAllByTestId('inbox-row')[0])
    const divider = await screen.findByTestId('new-messages-divider')
    expect(divider.nextElementSibling).toHaveAttribute('data-item', 'new')
    // Marked seen a moment later: the divider stays where it was while the conversation is open.
    await waitFor(() => expect(t.callsTo('MarkSeen')).toHaveLength(1))
    act(() => t.emit('inbox:changed', makeStatus()))
    act(() => t.emit('timeline:changed', ['c0']))
    await new Promise((r) => setTimeout(r, 300))
    expect(screen.getByTestId('new-messages-divider').nextElementSibling).toHaveAttribute('data-item', 'new')
  })

  it('marks the bot as a bot, offers no bot as assignee, and lets me take it over', async () => {
    const { t } = renderApp({
      Teammates: () => [ME, ANA, BOT],
      Conversation: (id: string) => makeDetail(id, { assistantMode: true, assistantId: 'ai:faq' }, { bot: true }),
      Timeline: () => ({ items: [item('message.sent', { id: 'b1', actor: BOT, text: 'I am the bot' })] }),
    })
    await ready()
    fireEvent.click(screen.getAllByTestId('inbox-row')[0])
    const msg = await screen.findByText('I am the bot')
    expect(within(msg.closest('[data-testid=timeline-message]') as HTMLElement).getByTestId('bot-badge')).toHaveTextContent('Bot')
    if (!screen.queryByTestId('details')) fireEvent.click(screen.getByTestId('toggle-details'))
    const assign = await screen.findByTestId('assign-select')
    expect(within(assign).getByText('Ana Souza')).toBeInTheDocument()
    expect(within(assign).queryByText('FAQ bot')).toBeNull()
    fireEvent.click(screen.getByTestId('take-over-button'))
    await waitFor(() => expect(t.callsTo('TakeOver')).toEqual([['c0']]))
  })
})

describe('New conversation', () => {
  it('sets priority, tags, attributes and the assignee (me by default)', async () => {
    const { t } = renderApp({
      Teammates: () => [ME, ANA, BOT],
      Attributes: () => [
        { key: 'plan', type: 'enum', values: ['free', 'pro'] },
        { key: 'seats', type: 'number' },
        { key: 'vip', type: 'bool' },
      ],
      CreateConversation: () => 'c42',
    })
    await ready()
    fireEvent.click(screen.getByTestId('new-conversation'))
    const dialog = await screen.findByTestId('new-conversation-dialog')
    await waitFor(() => expect(within(dialog).getByTestId('new-attr-plan')).toBeInTheDocument())
    expect(within(dialog).getByTestId('new-assignee')).toHaveValue(ME.id)
    expect(within(within(dialog).getByTestId('new-assignee')).queryByText('FAQ bot')).toBeNull()
    fireEvent.change(within(dialog).getByTestId('new-contact-id'), { target: { value: 'dana@example.com' } })
    fireEvent.change(within(dialog).getByTestId('new-text'), { target: { value: 'Hello Dana' } })
    fireEvent.change(within(dialog).getByTestId('new-priority'), { target: { value: 'urgent' } })
    fireEvent.change(within(dialog).getByTestId('new-tags'), { target: { value: 'Billing, vip billing' } })
    fireEvent.change(within(dialog).getByTestId('new-attr-plan'), { target: { value: 'pro' } })
    fireEvent.change(within(dialog).getByTestId('new-attr-seats'), { target: { value: '12' } })
    fireEvent.click(within(dialog).getByTestId('new-attr-vip'))
    fireEvent.click(within(dialog).getByTestId('new-conversation-submit'))
    await waitFor(() =>
      expect(t.callsTo('CreateConversation')).toEqual([
        [
          {
            contactId: 'dana@example.com',
            contactName: '',
            subject: '',
            text: 'Hello Dana',
            priority: 'urgent',
            tags: ['billing', 'vip'],
            attributes: { plan: 'pro', seats: 12, vip: true },
            assignee: ME.id,
          },
        ],
      ]),
    )
  })
})
