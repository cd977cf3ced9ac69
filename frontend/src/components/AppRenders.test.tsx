// The context split (AppContext holds only what changes rarely): the open conversation's pane does
// not re-render when the status, the view counts, the search box or the list's cursor change.
// Counted without the Profiler: every render of ConversationPane calls useConversation once, and
// the test wraps that hook in a spy.
import { act, fireEvent, screen, waitFor } from '@testing-library/react'
import { describe, expect, it, vi } from 'vitest'
import * as conversation from '../state/useConversation'
import { renderApp } from '../test/app'
import { makeStatus, syncOf } from '../test/fixtures'

vi.mock('../state/useConversation', async (importOriginal) => {
  const real = await importOriginal<typeof import('../state/useConversation')>()
  return { ...real, useConversation: vi.fn(real.useConversation) }
})

const paneRenders = () => vi.mocked(conversation.useConversation).mock.calls.length

describe('the conversation pane', () => {
  it('does not re-render with the status, the counts, the search or the cursor', async () => {
    const { t } = renderApp({ Counts: () => ({ open: { total: 50, unread: 1 } }) })
    await screen.findAllByTestId('inbox-row')
    fireEvent.click(screen.getAllByTestId('inbox-row')[0])
    await screen.findByTestId('composer-input')
    // Let the pane's own loading settle (its detail and timeline arrive, the draft loads).
    await act(() => new Promise((r) => setTimeout(r, 300)))
    const before = paneRenders()
    expect(before).toBeGreaterThan(0)

    // The status changes (sync:state carries it): the banner and the title follow…
    for (const n of [3, 4, 5]) act(() => t.emit('sync:state', makeStatus({ totalUnread: n, sync: syncOf({ state: 'syncing', received: n, backlog: 9 }) })))
    await waitFor(() => expect(document.title).toBe('Threadline (5)'))
    // …the cursor moves, the sidebar's numbers change, a search is typed and cleared.
    fireEvent.keyDown(window, { key: 'j' })
    fireEvent.keyDown(window, { key: 'j' })
    await waitFor(() => expect((document.querySelector('.inbox-row.active') as HTMLElement).dataset.index).toBe('2'))
    t.handlers.Counts = () => ({ open: { total: 51, unread: 2 } })
    act(() => t.emit('sync:state', makeStatus({ totalUnread: 2 })))
    await waitFor(() => expect(document.title).toBe('Threadline (2)'))
    const box = screen.getByRole('searchbox')
    fireEvent.change(box, { target: { value: 'invoice' } })
    fireEvent.change(box, { target: { value: '' } })
    await act(() => new Promise((r) => setTimeout(r, 50)))

    // …and the pane rendered not once more.
    expect(paneRenders()).toBe(before)
  })
})
