import { describe, expect, it, vi } from 'vitest'
import { act, render, screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { InboxWindow } from '../state/inboxWindow'
import { fakeInbox, makeRow } from '../test/rows'
import { InboxList, ROW_HEIGHT } from './InboxList'

const query = { view: 'open' as const, sort: 'activity' as const }

function inboxWindow(opts: Parameters<typeof fakeInbox>[0]) {
  const inbox = fakeInbox(opts)
  return new InboxWindow(async (q) => inbox(q), query, { pageSize: 50 })
}

describe('InboxList', () => {
  it('says so when the view is empty', async () => {
    const win = inboxWindow({ total: 0 })
    render(<InboxList win={win} activeIndex={-1} selectedId={null} onOpen={vi.fn()} emptyText="No conversations yet" />)
    expect(await screen.findByTestId('inbox-empty')).toHaveTextContent('No conversations yet')
    expect(screen.queryAllByTestId('inbox-row')).toHaveLength(0)
  })

  it('renders only the rows on screen, not the whole inbox', async () => {
    const win = inboxWindow({ total: 5000 })
    render(<InboxList win={win} activeIndex={0} selectedId="c1" onOpen={vi.fn()} fallbackHeight={ROW_HEIGHT * 10} />)
    await waitFor(() => expect(screen.getAllByTestId('inbox-row').length).toBeGreaterThan(0))
    const rows = screen.getAllByTestId('inbox-row')
    expect(rows.length).toBeLessThan(30)
    expect(screen.getByTestId('inbox-list')).toHaveAttribute('data-total', '5000')
    expect(rows[0]).toHaveTextContent('Customer 0')
    expect(rows[1]).toHaveAttribute('aria-selected', 'true')
    expect(rows[0]).toHaveAttribute('aria-selected', 'false')
  })

  it('shows unread counts and opens the clicked row', async () => {
    const win = inboxWindow({ total: 3, row: (i) => makeRow(i, { unread: i === 2 ? 120 : 0 }) })
    const onOpen = vi.fn()
    render(<InboxList win={win} activeIndex={-1} selectedId={null} onOpen={onOpen} />)
    const rows = await screen.findAllByTestId('inbox-row')
    expect(rows).toHaveLength(3)
    expect(screen.getAllByTestId('unread-badge')).toHaveLength(1)
    expect(screen.getByTestId('unread-badge')).toHaveTextContent('99+')
    await userEvent.click(rows[2])
    expect(onOpen).toHaveBeenCalledWith(expect.objectContaining({ id: 'c2' }), 2, { shift: false, toggle: false })
  })

  it('reports a failed load instead of an empty inbox', async () => {
    const win = new InboxWindow(async () => {
      throw new Error('store closed')
    }, query, { pageSize: 50 })
    render(<InboxList win={win} activeIndex={-1} selectedId={null} onOpen={vi.fn()} />)
    await act(async () => {})
    expect(await screen.findByRole('alert')).toHaveTextContent('Could not load the inbox')
    expect(screen.queryByTestId('inbox-empty')).toBeNull()
  })
})
