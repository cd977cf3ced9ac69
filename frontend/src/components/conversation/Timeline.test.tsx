import { fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import { describe, expect, it, vi } from 'vitest'
import { FIRST_PAINT_ITEMS, Timeline, seenByItem } from './Timeline'
import { describeLifecycle, failureText } from './TimelineItem'
import { nameOf } from '../../lib/format'
import { ANA, MARIA, ME, item } from '../../test/fixtures'
import type { Item, Kind } from '../../api/types'

const name = (p: Parameters<typeof nameOf>[0]) => nameOf(p)
const nameOfId = (id: string) => ({ 'agent:ana': 'Ana', 'contact:maria': 'Maria' })[id] ?? id

function renderTimeline(items: Item[], extra: Partial<Parameters<typeof Timeline>[0]> = {}) {
  const onRetry = vi.fn()
  const onDiscard = vi.fn()
  render(
    <Timeline
      convId="c1"
      items={items}
      seen={[]}
      meId={ME.id}
      name={name}
      nameOfId={nameOfId}
      hasOlder={false}
      loadingOlder={false}
      loading={false}
      newItemsTick={0}
      typingText=""
      highlightId={null}
      onLoadOlder={() => {}}
      onRetry={onRetry}
      onDiscard={onDiscard}
      busyIds={new Set()}
      {...extra}
    />,
  )
  return { onRetry, onDiscard }
}

describe('Timeline', () => {
  it('shows thread start and end separators with their topics', () => {
    renderTimeline([
      item('thread.started', { topic: 'Customer server offline (Ticket #1929383)', thread: 't1', actor: ANA }),
      item('message.sent', { text: 'It is down again', thread: 't1' }),
      item('thread.ended', { topic: 'Customer server offline (Ticket #1929383)', thread: 't1', actor: { id: 'system', role: 'system' as const } }),
      item('thread.started', { topic: '', thread: 't2', actor: { id: 'system', role: 'system' as const } }),
    ])
    const seps = screen.getAllByTestId('thread-separator')
    expect(seps.map((s) => s.querySelector('.tl-separator-label')?.textContent)).toEqual([
      'Thread started · Customer server offline (Ticket #1929383)',
      'Thread ended · Customer server offline (Ticket #1929383)',
      'Thread started',
    ])
    expect(seps[0]).toHaveAttribute('role', 'separator')
  })

  it('puts the contact left, the team right with names, and notes visibly apart', () => {
    renderTimeline([
      item('message.sent', { id: 'm1', text: 'Hello?', actor: MARIA }),
      item('message.sent', { id: 'm2', text: 'On it', actor: ANA }),
      item('note.added', { id: 'n1', text: 'Check the billing provider', actor: ANA }),
    ])
    const [contact, agent] = screen.getAllByTestId('timeline-message')
    expect(contact).toHaveClass('left')
    expect(contact).toHaveTextContent('Maria Silva')
    expect(agent).toHaveClass('right')
    expect(agent).toHaveTextContent('Ana Souza')
    const note = screen.getByTestId('timeline-note')
    expect(note).toHaveClass('note')
    expect(note).toHaveTextContent('Internal note')
    expect(note.querySelector('svg')).not.toBeNull() // the lock
    expect(note).toHaveTextContent('Check the billing provider')
  })

  it('marks my items pending, sent or failed, with Retry and Discard on failures', () => {
    const { onRetry, onDiscard } = renderTimeline([
      item('message.sent', { id: 'p', text: 'pending one', actor: ME, mine: true, state: 'pending', seq: 0 }),
      item('message.sent', { id: 's', text: 'sent one', actor: ME, mine: true, state: 'sent' }),
      item('message.sent', {
        id: 'f',
        text: 'failed one',
        actor: ME,
        mine: true,
        state: 'failed',
        seq: 0,
        error: { code: 'too_large', message: 'the message is over 32 KiB' },
      }),
    ])
    const states = screen.getAllByTestId('item-state').map((s) => s.dataset.state)
    expect(states).toEqual(['pending', 'sent', 'failed'])
    const failed = screen.getAllByTestId('timeline-message')[2]
    expect(failed).toHaveClass('failed')
    expect(within(failed).getByTestId('item-error')).toHaveTextContent('the message is over 32 KiB')
    fireEvent.click(within(failed).getByTestId('retry-button'))
    expect(onRetry).toHaveBeenCalledWith('f')
    fireEvent.click(within(failed).getByTestId('discard-button'))
    expect(onDiscard).toHaveBeenCalledWith('f')
    // only the failed item offers them
    expect(screen.getAllByTestId('retry-button')).toHaveLength(1)
  })

  it('explains a resolve the relay refused as stale', () => {
    const it = item('status.changed', {
      actor: ME,
      mine: true,
      state: 'failed',
      data: { status: 'resolved' },
      error: { code: 'stale', message: 'a new message arrived (seq 12) after what you saw (seq 10)' },
    })
    expect(failureText(it)).toBe('Not resolved: a new message arrived — read it first')
    renderTimeline([it])
    expect(screen.getByTestId('item-error')).toHaveTextContent('Not resolved: a new message arrived — read it first')
  })

  it('shows lifecycle events as small centred lines', () => {
    renderTimeline([
      item('status.changed', { actor: ANA, data: { status: 'resolved' } }),
      item('status.changed', { actor: { id: 'system', role: 'system' as const }, data: { status: 'open' } }),
      item('assignee.changed', { actor: ANA, data: { assignee: { id: 'agent:me', role: 'agent' as const, name: 'Sam Lee' } } }),
      item('participant.joined', { actor: ANA, data: { participant: { id: 'agent:ana', role: 'supervisor' as const } } }),
      item('priority.changed', { actor: ANA, data: { priority: 'urgent' } }),
      item('tags.changed', { actor: ANA, data: { add: ['vip'], remove: ['old', 'stale'] } }),
      item('seen.marked', { actor: MARIA, data: { upTo: 3 } }),
    ])
    expect(screen.getAllByTestId('timeline-event').map((e) => e.querySelector('.tl-event-text')?.textContent)).toEqual([
      'Ana Souza resolved the conversation',
      'Reopened by a new message',
      'Ana Souza assigned the conversation to Sam Lee',
      'Ana Souza joined as supervisor',
      'Ana Souza set priority to urgent',
      'Ana Souza added tag vip and removed tags old, stale',
    ])
  })

  it('says "Seen by" under the last item each other participant has seen', () => {
    const items = [
      item('message.sent', { id: 'a', seq: 5, actor: MARIA, text: 'hi' }),
      item('message.sent', { id: 'b', seq: 6, actor: ME, mine: true, state: 'sent', text: 'hello' }),
      item('message.sent', { id: 'c', seq: 7, actor: ME, mine: true, state: 'sent', text: 'more' }),
    ]
    const seen = [
      { participant: 'contact:maria', upTo: 6 },
      { participant: 'agent:ana', upTo: 7 },
    ]
    expect(Object.fromEntries(seenByItem(items, seen, ME.id, nameOfId))).toEqual({ b: ['Maria'], c: ['Ana'] })
    // a contact's mark never sits under a note, which contacts do not receive
    const withNote = [...items, item('note.added', { id: 'n', seq: 8, actor: ME, mine: true, state: 'sent', text: 'psst' })]
    expect(seenByItem(withNote, [{ participant: 'contact:maria', upTo: 8 }], ME.id, nameOfId).get('c')).toEqual(['Maria'])
    renderTimeline(items, { seen })
    const marks = screen.getAllByTestId('seen-by')
    expect(marks.map((m) => m.textContent)).toEqual(['Seen by Maria', 'Seen by Ana'])
  })

  it('shows who is typing and a highlighted item', () => {
    renderTimeline([item('note.added', { id: 'hit', text: 'the one' })], { typingText: 'Maria is typing…', highlightId: 'hit' })
    expect(screen.getByTestId('typing-indicator')).toHaveTextContent('Maria is typing…')
    expect(screen.getByTestId('timeline-note')).toHaveAttribute('data-highlighted', 'true')
  })

  it('scrolls to a highlighted item once, not again as new items arrive', () => {
    const spy = vi.fn()
    Element.prototype.scrollIntoView = spy
    const hit = item('note.added', { id: 'hit2', text: 'found' })
    const props = {
      convId: 'c1', seen: [], meId: ME.id, name, nameOfId, hasOlder: false, loadingOlder: false, loading: false,
      newItemsTick: 0, typingText: '', highlightId: 'hit2', highlightNonce: 1, onLoadOlder: () => {},
      onRetry: () => {}, onDiscard: () => {}, busyIds: new Set<string>(),
    }
    const { rerender } = render(<Timeline {...props} items={[hit]} />)
    expect(spy).toHaveBeenCalledTimes(1)
    rerender(<Timeline {...props} items={[hit, item('message.sent', { text: 'new' })]} newItemsTick={1} />)
    expect(spy).toHaveBeenCalledTimes(1)
    rerender(<Timeline {...props} items={[hit]} highlightNonce={2} />) // chosen again
    expect(spy).toHaveBeenCalledTimes(2)
    delete (Element.prototype as { scrollIntoView?: unknown }).scrollIntoView
  })

  it('offers to load older items', () => {
    const onLoadOlder = vi.fn()
    renderTimeline([item('message.sent', { text: 'x' })], { hasOlder: true, onLoadOlder })
    fireEvent.click(screen.getByTestId('load-older'))
    expect(onLoadOlder).toHaveBeenCalled()
  })

  it('describes what it does not know without crashing', () => {
    expect(describeLifecycle(item('something.new' as Kind, { actor: ANA }), name)).toBe('Ana Souza: something.new')
  })

  it('paints the newest items first, then the rest of the page', async () => {
    const items = Array.from({ length: FIRST_PAINT_ITEMS + 16 }, (_, i) => item('message.sent', { text: `m${i}` }))
    const raf = vi.spyOn(window, 'requestAnimationFrame').mockImplementation(() => 0)
    renderTimeline(items)
    const first = screen.getAllByTestId('timeline-message')
    expect(first).toHaveLength(FIRST_PAINT_ITEMS)
    expect(first.at(-1)).toHaveTextContent(`m${items.length - 1}`)
    const frame = raf.mock.calls[0][0]
    raf.mockRestore()
    frame(0)
    await waitFor(() => expect(screen.getAllByTestId('timeline-message')).toHaveLength(items.length))
    expect(screen.getAllByTestId('timeline-message')[0]).toHaveTextContent('m0')
  })
})
