import { fireEvent, render, screen, waitFor } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import { Composer } from './Composer'
import { SavedReplies } from '../SavedReplies'
import { setTransport } from '../../api'
import { fakeTransport } from '../../test/fakeTransport'

const replies = [
  { id: 'r1', title: 'Greeting', text: 'Hi {{contact.name}}, I am {{agent.name}}.', shortcut: 'hi' },
  { id: 'r2', title: 'Closing', text: 'Anything else about “{{conversation.subject}}”? {{order.id}}', shortcut: 'bye' },
  { id: 'r3', title: 'Email check', text: 'Is {{contact.email}} right, {{contact.name | there}}?' },
]

function setup(vars = { contactName: 'Maria Garcia', contactEmail: 'maria@example.com', agentName: 'Ana Souza', subject: 'Server offline' }) {
  const t = fakeTransport({ Draft: () => '', Send: () => ({ id: 'e1' }), Replies: () => replies })
  setTransport(t)
  render(<Composer convId="c1" contactName="Maria Garcia" canReply replyVars={vars} />)
  const input = screen.getByTestId('composer-input') as HTMLTextAreaElement
  return { t, input }
}

describe('the saved-replies picker', () => {
  it('opens on "/" at the start, filters, and inserts the chosen reply with its variables filled', async () => {
    const { t, input } = setup()
    fireEvent.change(input, { target: { value: '/' } })
    expect(await screen.findAllByTestId('reply-option')).toHaveLength(3)
    fireEvent.change(input, { target: { value: '/clo' } })
    await waitFor(() => expect(screen.getAllByTestId('reply-option').map((o) => o.dataset.reply)).toEqual(['r2']))
    fireEvent.keyDown(input, { key: 'Enter' })
    await waitFor(() => expect(input.value).toBe('Anything else about “Server offline”? {{order.id}}'))
    expect(screen.queryByTestId('reply-picker')).toBeNull()
    expect(t.callsTo('Send')).toHaveLength(0) // Enter inserted, it did not send
  })

  it('moves with the arrows and closes with Esc, leaving the text as typed', async () => {
    const { input } = setup()
    fireEvent.change(input, { target: { value: '/' } })
    await screen.findAllByTestId('reply-option')
    const selected = () => screen.getAllByTestId('reply-option').find((o) => o.getAttribute('aria-selected') === 'true')?.dataset.reply
    expect(selected()).toBe('r2') // by title: Closing, Email check, Greeting
    fireEvent.keyDown(input, { key: 'ArrowDown' })
    expect(selected()).toBe('r3')
    fireEvent.keyDown(input, { key: 'ArrowUp' })
    fireEvent.keyDown(input, { key: 'ArrowUp' })
    expect(selected()).toBe('r1') // wraps around
    fireEvent.keyDown(input, { key: 'Escape' })
    expect(screen.queryByTestId('reply-picker')).toBeNull()
    expect(input.value).toBe('/')
    fireEvent.change(input, { target: { value: '' } })
    fireEvent.change(input, { target: { value: '/h' } }) // opens again once the "/" was gone
    expect(await screen.findAllByTestId('reply-option')).not.toHaveLength(0)
    fireEvent.keyDown(input, { key: 'Enter' })
    await waitFor(() => expect(input.value).toBe('Hi Maria Garcia, I am Ana Souza.'))
  })

  it('fills a missing value with its fallback or nothing', async () => {
    const { input } = setup({ contactName: '', contactEmail: '', agentName: 'Ana', subject: '' })
    fireEvent.change(input, { target: { value: '/email' } })
    fireEvent.mouseDown((await screen.findAllByTestId('reply-option'))[0])
    await waitFor(() => expect(input.value).toBe('Is  right, there?'))
  })

  it('lets a message that starts with "/" and matches nothing be sent', async () => {
    const { t, input } = setup()
    fireEvent.change(input, { target: { value: '/zzz' } })
    expect(await screen.findByTestId('reply-picker-empty')).toBeInTheDocument()
    fireEvent.keyDown(input, { key: 'Enter' })
    await waitFor(() => expect(t.callsTo('Send')).toEqual([['c1', '/zzz']]))
  })
})

describe('Settings: saved replies', () => {
  it('lists, adds, edits and deletes the team’s replies, and says why a save was refused', async () => {
    let list: any[] = [
      { ...replies[0] },
      { id: 'r9', title: 'Welcome', text: 'x', shortcut: 'welcome', state: 'failed', error: { code: 'conflict', message: 'the shortcut /welcome is already “Welcome back”’s' }, event: 'ev9' },
    ]
    const t = fakeTransport({
      Replies: () => list,
      SaveReply: (r: any) => {
        if (r.shortcut === 'hi' && r.id !== 'r1') throw 'conflict: the shortcut /hi is already “Greeting”’s'
        list = [...list.filter((x) => x.id !== r.id), { ...r, id: r.id || 'new', state: 'pending' }]
        return r
      },
      DeleteReply: (id: string) => {
        list = list.filter((x) => x.id !== id)
      },
    })
    setTransport(t)
    render(<SavedReplies />)
    expect(await screen.findAllByTestId('settings-reply')).toHaveLength(2)
    expect(screen.getByRole('alert')).toHaveTextContent('already “Welcome back”’s')
    fireEvent.change(screen.getByTestId('settings-reply-title'), { target: { value: 'Bye' } })
    fireEvent.change(screen.getByTestId('settings-reply-shortcut'), { target: { value: 'hi' } })
    fireEvent.change(screen.getByTestId('settings-reply-text'), { target: { value: 'Bye {{contact.name}}' } })
    fireEvent.click(screen.getByTestId('settings-reply-save'))
    expect(await screen.findByTestId('settings-reply-error')).toHaveTextContent('already “Greeting”’s')
    fireEvent.change(screen.getByTestId('settings-reply-shortcut'), { target: { value: 'bye' } })
    fireEvent.click(screen.getByTestId('settings-reply-save'))
    await waitFor(() => expect(screen.getAllByTestId('settings-reply')).toHaveLength(3))
    expect(t.callsTo('SaveReply').at(-1)).toEqual([{ id: '', title: 'Bye', text: 'Bye {{contact.name}}', shortcut: 'bye' }])
    fireEvent.click(screen.getAllByTestId('settings-reply-edit')[0])
    expect(screen.getByTestId('settings-reply-title')).toHaveValue('Greeting')
    fireEvent.change(screen.getByTestId('settings-reply-text'), { target: { value: 'Hello!' } })
    fireEvent.click(screen.getByTestId('settings-reply-save'))
    await waitFor(() => expect(t.callsTo('SaveReply').at(-1)).toEqual([{ id: 'r1', title: 'Greeting', text: 'Hello!', shortcut: 'hi' }]))
    fireEvent.click(screen.getAllByTestId('settings-reply-delete')[0])
    await waitFor(() => expect(t.callsTo('DeleteReply')).toHaveLength(1))
  })
})
