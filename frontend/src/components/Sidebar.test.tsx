import { describe, expect, it, vi } from 'vitest'
import { render, screen, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { Sidebar, type SidebarProps } from './Sidebar'

function props(over: Partial<SidebarProps> = {}): SidebarProps {
  return {
    query: { view: 'open', sort: 'activity' },
    counts: {},
    savedViews: [],
    status: null,
    onView: vi.fn(),
    onSavedView: vi.fn(),
    onSaveView: vi.fn(async () => null),
    onDeleteView: vi.fn(),
    onSettings: vi.fn(),
    onShortcuts: vi.fn(),
    onNewConversation: vi.fn(),
    ...over,
  }
}

describe('Sidebar', () => {
  it('lists the inbox views and marks the current one', () => {
    render(<Sidebar {...props()} />)
    const nav = screen.getByRole('navigation', { name: 'Views' })
    for (const label of ['Mine', 'Unassigned', 'All open', 'Resolved']) {
      expect(within(nav).getByRole('button', { name: new RegExp(`^${label}`) })).toBeInTheDocument()
    }
    expect(screen.getByTestId('view-open')).toHaveAttribute('aria-current', 'page')
    expect(screen.getByTestId('view-mine')).not.toHaveAttribute('aria-current')
  })

  it('does not mark a view as the page while a filter narrows it', () => {
    render(<Sidebar {...props({ query: { view: 'open', sort: 'activity', priority: 'urgent' } })} />)
    expect(screen.getByTestId('view-open')).not.toHaveAttribute('aria-current')
  })

  it('asks for the view that is clicked', async () => {
    const p = props()
    render(<Sidebar {...p} />)
    await userEvent.click(screen.getByTestId('view-unassigned'))
    expect(p.onView).toHaveBeenCalledWith('unassigned')
    await userEvent.click(screen.getByTestId('new-conversation'))
    expect(p.onNewConversation).toHaveBeenCalledTimes(1)
  })

  it('shows unread counts before totals', () => {
    render(<Sidebar {...props({ counts: { mine: { unread: 3, total: 9 }, resolved: { total: 12, unread: 0 }, unassigned: { unread: 50, total: 80 } } })} />)
    expect(screen.getByTestId('view-mine-unread')).toHaveTextContent('3')
    expect(screen.getByTestId('view-unassigned-unread')).toHaveTextContent('50')
    expect(screen.getByTestId('view-resolved')).toHaveTextContent('12')
    expect(screen.queryByTestId('view-resolved-unread')).toBeNull()
  })

  it('saves the current filter under a name, and says why it cannot', async () => {
    const onSaveView = vi.fn(async (name: string) => (name === 'Taken' ? 'A view named Taken exists' : null))
    render(<Sidebar {...props({ onSaveView })} />)
    expect(screen.getByText('Filter the list, then + to save it')).toBeInTheDocument()

    await userEvent.click(screen.getByTestId('save-view'))
    const input = screen.getByTestId('save-view-name')
    await userEvent.type(input, '   {Enter}')
    expect(screen.getByRole('alert')).toHaveTextContent('Name the view')
    expect(onSaveView).not.toHaveBeenCalled()

    await userEvent.clear(input)
    await userEvent.type(input, 'Taken{Enter}')
    expect(await screen.findByRole('alert')).toHaveTextContent('A view named Taken exists')

    await userEvent.clear(input)
    await userEvent.type(input, 'Urgent{Enter}')
    expect(onSaveView).toHaveBeenLastCalledWith('Urgent')
    expect(screen.queryByTestId('save-view-name')).toBeNull()
  })

  it('opens, highlights and deletes saved views', async () => {
    const saved = { name: 'Urgent', query: { view: 'open' as const, sort: 'activity' as const, priority: 'urgent' as const } }
    const p = props({ savedViews: [saved], query: saved.query })
    render(<Sidebar {...p} />)
    const item = screen.getByTestId('saved-view')
    expect(item).toHaveClass('active')
    await userEvent.click(item)
    expect(p.onSavedView).toHaveBeenCalledWith(saved)
    await userEvent.click(screen.getByRole('button', { name: 'Delete view Urgent' }))
    expect(p.onDeleteView).toHaveBeenCalledWith('Urgent')
  })
})
