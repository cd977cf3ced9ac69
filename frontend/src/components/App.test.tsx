import { act, fireEvent, screen, waitFor, within } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import { renderApp } from '../test/app'
import { makeDetail, makeStatus, item, ANA, ME, syncOf } from '../test/fixtures'
import { fakeInbox, makeRow } from '../test/rows'

function key(k: string, target: Element | Window = window, init: KeyboardEventInit = {}) {
  fireEvent.keyDown(target, { key: k, ...init })
}

async function ready() {
  await screen.findAllByTestId('inbox-row')
}

describe('App', () => {
  it('shows the unread total in the title, and plain "Threadline" at zero', async () => {
    const { t } = renderApp({ Status: () => makeStatus({ totalUnread: 3 }) })
    await waitFor(() => expect(document.title).toBe('Threadline (3)'))
    act(() => t.emit('inbox:changed', makeStatus({ totalUnread: 0 })))
    await waitFor(() => expect(document.title).toBe('Threadline'))
    act(() => t.emit('sync:state', makeStatus({ totalUnread: 12 })))
    await waitFor(() => expect(document.title).toBe('Threadline (12)'))
  })

  it('moves with j/k, opens with Enter, and ignores shortcuts while typing', async () => {
    const { t } = renderApp()
    await ready()
    const active = () => document.querySelector('.inbox-row.active') as HTMLElement
    expect(active().dataset.index).toBe('0')
    key('j')
    key('j')
    await waitFor(() => expect(active().dataset.index).toBe('2'))
    key('k')
    await waitFor(() => expect(active().dataset.index).toBe('1'))
    key('Enter')
    expect(await screen.findByTestId('conversation')).toHaveAttribute('data-conv', 'c1')
    expect(t.callsTo('Conversation')).toContainEqual(['c1'])

    // typing j in the composer types, it does not move the list
    const input = await screen.findByTestId('composer-input')
    input.focus()
    key('j', input)
    key('k', input)
    expect(active().dataset.index).toBe('1')
    // Esc leaves the field; then shortcuts work again
    key('Escape', input)
    expect(document.activeElement).not.toBe(input)
    key('j')
    await waitFor(() => expect(active().dataset.index).toBe('2'))
  })

  it('r focuses the reply, n the note, / the search, ? lists every shortcut and Esc closes it', async () => {
    renderApp()
    await ready()
    fireEvent.click(screen.getAllByTestId('inbox-row')[0])
    const input = await screen.findByTestId('composer-input')
    key('n')
    expect(document.activeElement).toBe(input)
    expect(screen.getByTestId('composer')).toHaveAttribute('data-mode', 'note')
    key('Escape', input)
    key('r')
    expect(document.activeElement).toBe(input)
    expect(screen.getByTestId('composer')).toHaveAttribute('data-mode', 'reply')
    key('Escape', input)
    key('/')
    expect(document.activeElement).toBe(screen.getByTestId('search-input'))
    key('Escape', screen.getByTestId('search-input'))
    key('?')
    const overlay = await screen.findByTestId('shortcuts-overlay')
    for (const k of ['j', 'k', 'Enter', 'r', 'n', 'e', '/', '?', 'Esc']) expect(within(overlay).getAllByText(k).length).toBeGreaterThan(0)
    key('Escape', overlay)
    await waitFor(() => expect(screen.queryByTestId('shortcuts-overlay')).toBeNull())
  })

  it('e resolves an open conversation and reopens a resolved one', async () => {
    let status: 'open' | 'resolved' = 'open'
    const { t } = renderApp({
      Conversation: (id: string) => makeDetail(id, { status }),
      Resolve: () => {
        status = 'resolved'
        return null
      },
      Reopen: () => {
        status = 'open'
        return null
      },
    })
    await ready()
    fireEvent.click(screen.getAllByTestId('inbox-row')[0])
    await screen.findByTestId('resolve-button')
    key('e')
    await waitFor(() => expect(t.callsTo('Resolve')).toEqual([['c0']]))
    expect(await screen.findByTestId('reopen-button')).toBeInTheDocument()
    expect(screen.getByTestId('conversation-status')).toHaveTextContent('Resolved')
    key('e')
    await waitFor(() => expect(t.callsTo('Reopen')).toEqual([['c0']]))
  })

  it('says clearly when a resolve is refused as stale, and refreshes', async () => {
    const { t } = renderApp({
      Resolve: () => {
        throw 'stale: a new message arrived (seq 12) after what you saw (seq 10)'
      },
    })
    await ready()
    fireEvent.click(screen.getAllByTestId('inbox-row')[0])
    const button = await screen.findByTestId('resolve-button')
    await waitFor(() => expect(t.callsTo('Timeline')).toHaveLength(1))
    fireEvent.click(button)
    const msg = await screen.findByTestId('action-error')
    expect(msg).toHaveTextContent('Not resolved: a new message arrived — read it first')
    expect(msg).toHaveAttribute('role', 'alert')
    // and it reloads the conversation, so the new message shows
    await waitFor(() => expect(t.callsTo('Timeline')).toHaveLength(2))
  })

  it('marks a conversation seen when opened in a focused window, and when new items arrive', async () => {
    let unread = 2
    const { t } = renderApp({
      Inbox: fakeInbox({ total: 5, row: (i) => makeRow(i, { unread: i === 0 ? unread : 0 }) }),
      Conversation: (id: string) => makeDetail(id, { lastItemSeq: 10 + unread }, { unread }),
      MarkSeen: () => {
        unread = 0
        return null
      },
    })
    await ready()
    expect(screen.getAllByTestId('unread-badge')[0]).toHaveTextContent('2')
    fireEvent.click(screen.getAllByTestId('inbox-row')[0])
    await waitFor(() => expect(t.callsTo('MarkSeen')).toEqual([['c0']]))
    // the backend then says the inbox changed: the badge goes
    act(() => t.emit('inbox:changed', makeStatus()))
    await waitFor(() => expect(screen.queryAllByTestId('unread-badge')).toHaveLength(0))
    // a new message arrives in the open conversation
    unread = 1
    act(() => t.emit('timeline:changed', ['c0']))
    await waitFor(() => expect(t.callsTo('MarkSeen')).toHaveLength(2))
  })

  it('does not mark seen while the window is not focused', async () => {
    const { t } = renderApp({ Conversation: (id: string) => makeDetail(id, {}, { unread: 4 }) })
    ;(document.hasFocus as unknown as { mockReturnValue: (v: boolean) => void }).mockReturnValue(false)
    await ready()
    fireEvent.click(screen.getAllByTestId('inbox-row')[0])
    await screen.findByTestId('conversation')
    await new Promise((r) => setTimeout(r, 400))
    expect(t.callsTo('MarkSeen')).toHaveLength(0)
  })

  it('search: "/" focuses, results come as you type, choosing one opens and highlights the item', async () => {
    const note = item('note.added', { id: 'note-7', text: 'Refund approved by finance', actor: ANA })
    const { t } = renderApp({
      Search: (q: string) =>
        q.startsWith('refund')
          ? [{ conv: 'c3', item: 'note-7', kind: 'note', snippet: 'Refund approved by finance', contact: { id: 'contact:3', role: 'contact' as const, name: 'Customer 3' }, at: Date.now() }]
          : [],
      Timeline: (id: string) => (id === 'c3' ? { items: [item('message.sent', { text: 'hi' }), note] } : { items: [] }),
    })
    await ready()
    key('/')
    const box = screen.getByTestId('search-input')
    fireEvent.change(box, { target: { value: 'refund' } })
    const result = await screen.findByTestId('search-result')
    expect(result).toHaveAttribute('data-kind', 'note')
    expect(result.querySelector('mark')).toHaveTextContent('Refund')
    expect(t.callsTo('Search')).toEqual([['refund', 50]]) // debounced: one call
    fireEvent.click(result)
    const pane = await screen.findByTestId('conversation')
    expect(pane).toHaveAttribute('data-conv', 'c3')
    await waitFor(() => expect(screen.getByTestId('timeline-note')).toHaveAttribute('data-highlighted', 'true'))
  })

  it('search results open with the keyboard too', async () => {
    renderApp({
      Search: () => [
        { conv: 'c8', kind: 'conversation', snippet: 'Server offline', contact: { id: 'contact:8', role: 'contact' as const }, at: 0 },
        { conv: 'c9', item: 'm', kind: 'message', snippet: 'Server again', contact: { id: 'contact:9', role: 'contact' as const }, at: 0 },
      ],
    })
    await ready()
    const box = screen.getByTestId('search-input')
    box.focus()
    fireEvent.change(box, { target: { value: 'server' } })
    await screen.findAllByTestId('search-result')
    fireEvent.keyDown(box, { key: 'ArrowDown' })
    fireEvent.keyDown(box, { key: 'Enter' })
    expect(await screen.findByTestId('conversation')).toHaveAttribute('data-conv', 'c9')
    fireEvent.keyDown(box, { key: 'Escape' })
    await waitFor(() => expect(screen.queryByTestId('search-results')).toBeNull())
  })

  it('tells the truth about sync: offline banner with pending count, progress while syncing, failures', async () => {
    const { t } = renderApp({
      Status: () => makeStatus({ sync: syncOf({ state: 'offline', retryAt: new Date(Date.now() + 12_000).toISOString(), attempt: 2 }), pending: 3 }),
    })
    const banner = await screen.findByTestId('offline-banner')
    expect(banner).toHaveTextContent('3 changes will be sent when the connection is back')
    expect(banner).toHaveTextContent(/Next retry in 1[12] s/)
    expect(screen.getByTestId('connection')).toHaveTextContent('Offline · 3 pending')
    act(() => t.emit('sync:state', makeStatus({ sync: syncOf({ state: 'syncing', received: 250, backlog: 1000 }) })))
    const bar = await screen.findByTestId('sync-progress')
    expect(bar).toHaveTextContent('250 of 1,000 events')
    expect(within(bar).getByRole('progressbar')).toHaveAttribute('aria-valuenow', '25')
    act(() => t.emit('sync:state', makeStatus({ sync: syncOf({ state: 'failed', error: 'bad agent token', code: 'unauthorized' }) })))
    expect(await screen.findByTestId('failed-banner')).toHaveTextContent('bad agent token')
    expect(screen.getByTestId('connection')).toHaveTextContent('Failed: bad agent token')
    act(() => t.emit('sync:state', makeStatus({ sync: syncOf({ state: 'local' }) })))
    await waitFor(() => expect(screen.getByTestId('connection')).toHaveTextContent('Local only'))
  })

  it('reloads the list when the inbox changes', async () => {
    let preview = 'before'
    const { t } = renderApp({ Inbox: fakeInbox({ total: 3, row: (i) => makeRow(i, { preview }) }) })
    await ready()
    expect(screen.getAllByTestId('row-preview')[0]).toHaveTextContent('before')
    preview = 'after'
    act(() => t.emit('inbox:changed', makeStatus()))
    await waitFor(() => expect(screen.getAllByTestId('row-preview')[0]).toHaveTextContent('after'))
  })

  it('switches views and filters, and saves the current filter as a view', async () => {
    const { t } = renderApp({ Views: () => [{ name: 'Urgent billing', query: { view: 'open', sort: 'priority', priority: 'urgent', tag: 'billing' } }] })
    await ready()
    fireEvent.click(screen.getByTestId('view-mine'))
    await waitFor(() => expect(t.callsTo('Inbox').some(([q]) => (q as { view: string }).view === 'mine')).toBe(true))
    fireEvent.change(screen.getByTestId('priority-filter'), { target: { value: 'high' } })
    await waitFor(() =>
      expect(t.callsTo('Inbox').some(([q]) => (q as { view: string; priority?: string }).view === 'mine' && (q as { priority?: string }).priority === 'high')).toBe(true),
    )
    fireEvent.click(screen.getByTestId('save-view'))
    const name = screen.getByTestId('save-view-name')
    fireEvent.change(name, { target: { value: 'My high' } })
    fireEvent.submit(name.closest('form')!)
    await waitFor(() => expect(t.callsTo('SaveView')).toEqual([['My high', { view: 'mine', sort: 'activity', priority: 'high' }]]))
    const saved = await screen.findAllByTestId('saved-view')
    expect(saved.map((s) => s.textContent)).toEqual(['Urgent billing', 'My high'])
    fireEvent.click(saved[0])
    await waitFor(() =>
      expect(t.callsTo('Inbox').some(([q]) => (q as { tag?: string; sort: string }).tag === 'billing' && (q as { sort: string }).sort === 'priority')).toBe(true),
    )
    expect(screen.getByTestId('list-title')).toHaveTextContent('Urgent billing')
  })

  it('shows who is typing in the open conversation, and not my own typing', async () => {
    const { t } = renderApp()
    await ready()
    fireEvent.click(screen.getAllByTestId('inbox-row')[0])
    await screen.findByTestId('conversation')
    act(() => t.emit('typing', { conv: 'c0', participant: { id: 'contact:maria', role: 'contact' as const, name: 'Maria' }, on: true }))
    expect(screen.getByTestId('typing-indicator')).toHaveTextContent('Maria Silva is typing…')
    // my own typing from another device is not shown
    act(() => t.emit('typing', { conv: 'c0', participant: ME, on: true }))
    expect(screen.getByTestId('typing-indicator')).toHaveTextContent('Maria Silva is typing…')
    act(() => t.emit('typing', { conv: 'c0', participant: { id: 'contact:maria', role: 'contact' as const }, on: false }))
    expect(screen.getByTestId('typing-indicator')).toHaveTextContent('')
  })

  it('shows a reply as pending at once, then as the stored item (once)', async () => {
    let release: () => void = () => {}
    let stored: ReturnType<typeof item>[] = []
    const { t } = renderApp({
      Send: (_id: string, text: string) =>
        new Promise((r) => {
          release = () => {
            stored = [item('message.sent', { id: 'real', text, actor: ME, mine: true, state: 'sent', seq: 40 })]
            r(null)
          }
        }),
      Timeline: () => ({ items: stored }),
    })
    await ready()
    fireEvent.click(screen.getAllByTestId('inbox-row')[0])
    const input = await screen.findByTestId('composer-input')
    fireEvent.change(input, { target: { value: 'On my way' } })
    fireEvent.keyDown(input, { key: 'Enter' })
    const pending = await screen.findByText('On my way')
    expect(pending.closest('[data-testid=timeline-message]')).toHaveAttribute('data-state', 'pending')
    await act(async () => release())
    await waitFor(() => expect(screen.getByText('On my way').closest('[data-testid=timeline-message]')).toHaveAttribute('data-state', 'sent'))
    expect(screen.getAllByText('On my way')).toHaveLength(1)
    expect(t.callsTo('Send')).toEqual([['c0', 'On my way']])
  })

  it('retries and discards a failed item', async () => {
    const failed = item('message.sent', { id: 'bad', text: 'x', actor: ME, mine: true, state: 'failed', seq: 0, error: { code: 'forbidden', message: 'supervisors may not send' } })
    const { t } = renderApp({ Timeline: () => ({ items: [failed] }) })
    await ready()
    fireEvent.click(screen.getAllByTestId('inbox-row')[0])
    expect(await screen.findByTestId('item-error')).toHaveTextContent('supervisors may not send')
    fireEvent.click(screen.getByTestId('retry-button'))
    await waitFor(() => expect(t.callsTo('Retry')).toEqual([['bad']]))
    await waitFor(() => expect(screen.getByTestId('discard-button')).toBeEnabled())
    fireEvent.click(screen.getByTestId('discard-button'))
    await waitFor(() => expect(t.callsTo('Discard')).toEqual([['bad']]))
  })

  it('explains when the backend cannot be reached', async () => {
    renderApp({
      Info: () => {
        throw { code: 'network', message: 'Cannot reach the Threadline backend' }
      },
    })
    expect(await screen.findByTestId('boot-error')).toHaveTextContent('Cannot reach the Threadline backend')
  })
})
