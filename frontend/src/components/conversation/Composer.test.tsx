import { act, fireEvent, render, screen, waitFor } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createRef } from 'react'
import { Composer, DRAFT_SAVE_MS, type ComposerHandle } from './Composer'
import { setTransport } from '../../api'
import { fakeTransport } from '../../test/fakeTransport'

function setup(handlers: Record<string, (...a: any[]) => unknown> = {}, props: Partial<Parameters<typeof Composer>[0]> = {}) {
  const t = fakeTransport({ Draft: () => '', Send: () => null, AddNote: () => null, ...handlers })
  setTransport(t)
  const onSending = vi.fn(() => 'tok')
  const onSettled = vi.fn()
  const ref = createRef<ComposerHandle>()
  const r = render(<Composer ref={ref} convId="c1" contactName="Maria" canReply onSending={onSending} onSettled={onSettled} {...props} />)
  const input = screen.getByTestId('composer-input') as HTMLTextAreaElement
  return { t, onSending, onSettled, ref, input, ...r }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('Composer', () => {
  it('sends on Enter and inserts a new line on Shift+Enter', async () => {
    const { t, input, onSending, onSettled } = setup()
    fireEvent.change(input, { target: { value: 'first line' } })
    const shift = fireEvent.keyDown(input, { key: 'Enter', shiftKey: true })
    expect(shift).toBe(true) // not prevented: the browser adds the newline
    expect(t.callsTo('Send')).toHaveLength(0)
    fireEvent.change(input, { target: { value: 'first line\nsecond line' } })
    const enter = fireEvent.keyDown(input, { key: 'Enter' })
    expect(enter).toBe(false) // prevented
    await waitFor(() => expect(t.callsTo('Send')).toEqual([['c1', 'first line\nsecond line']]))
    await waitFor(() => expect(input.value).toBe(''))
    expect(onSending).toHaveBeenCalledWith('message.sent', 'first line\nsecond line')
    expect(onSettled).toHaveBeenCalledWith('tok', true)
    expect(t.callsTo('SaveDraft')).toContainEqual(['c1', ''])
  })

  it('does not send blank text, and keeps the text with the error when sending fails', async () => {
    const { t, input, onSettled } = setup({
      Send: () => {
        throw 'too_large: the message is over 32 KiB'
      },
    })
    fireEvent.change(input, { target: { value: '   ' } })
    fireEvent.keyDown(input, { key: 'Enter' })
    expect(t.callsTo('Send')).toHaveLength(0)
    fireEvent.change(input, { target: { value: 'hello' } })
    fireEvent.keyDown(input, { key: 'Enter' })
    expect(await screen.findByTestId('composer-error')).toHaveTextContent('the message is over 32 KiB')
    expect(input.value).toBe('hello')
    expect(onSettled).toHaveBeenCalledWith('tok', false)
  })

  it('writes private notes in note mode, visibly', async () => {
    const { t, input, ref } = setup()
    act(() => ref.current!.focus('note'))
    expect(screen.getByTestId('composer')).toHaveAttribute('data-mode', 'note')
    expect(screen.getByTestId('composer')).toHaveClass('note')
    expect(document.activeElement).toBe(input)
    fireEvent.change(input, { target: { value: 'internal only' } })
    fireEvent.keyDown(input, { key: 'Enter' })
    await waitFor(() => expect(t.callsTo('AddNote')).toEqual([['c1', 'internal only']]))
    expect(t.callsTo('Send')).toHaveLength(0)
    // a note never tells the contact someone is typing
    expect(t.callsTo('Typing').filter((c) => c[1] === true)).toHaveLength(0)
  })

  it('restores the draft of each conversation and saves edits debounced', async () => {
    vi.useFakeTimers()
    const drafts: Record<string, string> = { c1: 'half-written reply', c2: 'other draft' }
    const { t, input, rerender } = setup({ Draft: (id: string) => drafts[id] ?? '' })
    await act(async () => {
      await vi.advanceTimersByTimeAsync(1)
    })
    expect(input.value).toBe('half-written reply')
    fireEvent.change(input, { target: { value: 'half-written reply, now longer' } })
    fireEvent.change(input, { target: { value: 'half-written reply, now longer.' } })
    expect(t.callsTo('SaveDraft')).toHaveLength(0)
    await act(async () => {
      await vi.advanceTimersByTimeAsync(DRAFT_SAVE_MS + 10)
    })
    expect(t.callsTo('SaveDraft')).toEqual([['c1', 'half-written reply, now longer.']])
    // switching conversations saves at once what was typed and loads the other draft
    fireEvent.change(input, { target: { value: 'unsaved edit' } })
    rerender(<Composer convId="c2" contactName="Joe" canReply />)
    expect(t.callsTo('SaveDraft')).toContainEqual(['c1', 'unsaved edit'])
    await act(async () => {
      await vi.advanceTimersByTimeAsync(1)
    })
    expect((screen.getByTestId('composer-input') as HTMLTextAreaElement).value).toBe('other draft')
  })

  it('says it is typing, renewed every 3 s at most, and stops on send and blur', async () => {
    vi.useFakeTimers()
    const { t, input } = setup()
    fireEvent.change(input, { target: { value: 'h' } })
    fireEvent.change(input, { target: { value: 'he' } })
    fireEvent.change(input, { target: { value: 'hel' } })
    expect(t.callsTo('Typing')).toEqual([['c1', true]])
    await act(async () => {
      await vi.advanceTimersByTimeAsync(3100)
    })
    fireEvent.change(input, { target: { value: 'hell' } })
    expect(t.callsTo('Typing')).toEqual([
      ['c1', true],
      ['c1', true],
    ])
    fireEvent.blur(input)
    expect(t.callsTo('Typing').at(-1)).toEqual(['c1', false])
    fireEvent.change(input, { target: { value: 'hello' } })
    expect(t.callsTo('Typing').at(-1)).toEqual(['c1', true])
    fireEvent.keyDown(input, { key: 'Enter' })
    expect(t.callsTo('Typing').at(-1)).toEqual(['c1', false])
  })

  it('lets a supervisor write notes only', () => {
    setup({}, { canReply: false })
    expect(screen.getByTestId('composer-mode-reply')).toBeDisabled()
    expect(screen.getByTestId('composer')).toHaveAttribute('data-mode', 'note')
  })
})
