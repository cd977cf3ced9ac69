import { fireEvent, render, screen, waitFor } from '@testing-library/react'
import { describe, expect, it, vi } from 'vitest'
import { SettingsDialog } from './Settings'
import { setTransport } from '../api'
import { fakeTransport } from '../test/fakeTransport'
import { makeStatus, syncOf } from '../test/fixtures'

describe('SettingsDialog', () => {
  it('validates, connects, and shows the relay’s refusal', async () => {
    const t = fakeTransport({
      Settings: () => ({ relayUrl: '', workspace: '', hasToken: false }),
      Connect: (_u: string, _w: string, token: string) => {
        if (token === 'bad') throw 'error: unauthorized: bad agent token'
        return null
      },
    })
    setTransport(t)
    const onChanged = vi.fn()
    render(<SettingsDialog status={makeStatus({ sync: syncOf({ state: 'local' }) })} onClose={() => {}} onChanged={onChanged} />)
    expect(screen.getByTestId('settings-status')).toHaveTextContent('Local only')
    await waitFor(() => expect(t.callsTo('Settings')).toHaveLength(1))
    fireEvent.click(screen.getByTestId('settings-connect'))
    expect(await screen.findByTestId('settings-error-relayUrl')).toBeInTheDocument()
    expect(screen.getByTestId('settings-error-token')).toBeInTheDocument()
    expect(t.callsTo('Connect')).toHaveLength(0)

    fireEvent.change(screen.getByTestId('settings-relay-url'), { target: { value: 'ws://127.0.0.1:8470' } })
    fireEvent.change(screen.getByTestId('settings-workspace'), { target: { value: 'acme' } })
    fireEvent.change(screen.getByTestId('settings-token'), { target: { value: 'bad' } })
    fireEvent.click(screen.getByTestId('settings-connect'))
    expect(await screen.findByTestId('settings-error')).toHaveTextContent('unauthorized: bad agent token')

    fireEvent.change(screen.getByTestId('settings-token'), { target: { value: 'good' } })
    fireEvent.click(screen.getByTestId('settings-connect'))
    await waitFor(() => expect(t.callsTo('Connect').at(-1)).toEqual(['ws://127.0.0.1:8470', 'acme', 'good']))
    // The dialog clears the token and reports the change once Connect has answered.
    await waitFor(() => expect(onChanged).toHaveBeenCalled())
    expect(screen.getByTestId('settings-token')).toHaveValue('')
  })
})

describe('SettingsDialog: what the user typed stays', () => {
  it('settings that arrive after the user typed fill only the fields not typed in', async () => {
    let answer: (s: unknown) => void = () => {}
    const t = fakeTransport({ Settings: () => new Promise((r) => (answer = r)) })
    setTransport(t)
    render(<SettingsDialog status={makeStatus({ sync: syncOf({ state: 'local' }) })} onClose={() => {}} onChanged={() => {}} />)
    await waitFor(() => expect(t.callsTo('Settings')).toHaveLength(1))
    fireEvent.change(screen.getByTestId('settings-relay-url'), { target: { value: 'ws://127.0.0.1:8470' } })
    answer({ relayUrl: 'wss://old.example.com', workspace: 'acme', hasToken: false })
    await waitFor(() => expect(screen.getByTestId('settings-workspace')).toHaveValue('acme'))
    expect(screen.getByTestId('settings-relay-url')).toHaveValue('ws://127.0.0.1:8470')
  })
})

const DEMO_PLAN = { action: 'first', send: 2, keep: 26, pending: 0, demo: true, returns: false }

describe('SettingsDialog: connecting never hides work', () => {
  it('asks in plain words before the first connect replaces the sample inbox, and Cancel changes nothing', async () => {
    const t = fakeTransport({
      Settings: () => ({ relayUrl: '', workspace: '', hasToken: false }),
      ConnectPlan: () => DEMO_PLAN,
    })
    setTransport(t)
    const onChanged = vi.fn()
    render(<SettingsDialog status={makeStatus({ sync: syncOf({ state: 'local' }) })} onClose={() => {}} onChanged={onChanged} />)
    await waitFor(() => expect(t.callsTo('Settings')).toHaveLength(1))
    expect(screen.getByTestId('settings-intro')).toHaveTextContent('works on this computer without a relay')
    fireEvent.change(screen.getByTestId('settings-relay-url'), { target: { value: 'ws://127.0.0.1:8470' } })
    fireEvent.change(screen.getByTestId('settings-workspace'), { target: { value: 'acme' } })
    fireEvent.change(screen.getByTestId('settings-token'), { target: { value: 'tok' } })
    fireEvent.click(screen.getByTestId('settings-connect'))
    const ask = await screen.findByTestId('settings-confirm')
    expect(ask).toHaveTextContent('Connecting replaces the sample inbox with your team’s.')
    expect(ask).toHaveTextContent('Your 2 conversations made on this computer will be sent to the relay, where your team sees them.')
    expect(ask).toHaveTextContent('The 26 sample conversations stay on this computer, kept aside: “Back to the local inbox” in Settings brings them back.')
    expect(t.callsTo('ConnectPlan')).toEqual([['ws://127.0.0.1:8470', 'acme']])
    fireEvent.click(screen.getByTestId('settings-confirm-cancel'))
    expect(screen.queryByTestId('settings-confirm')).not.toBeInTheDocument()
    expect(t.callsTo('Connect')).toHaveLength(0)
    expect(onChanged).not.toHaveBeenCalled()

    fireEvent.click(screen.getByTestId('settings-connect'))
    fireEvent.click(await screen.findByTestId('settings-confirm-connect'))
    await waitFor(() => expect(t.callsTo('Connect')).toEqual([['ws://127.0.0.1:8470', 'acme', 'tok']]))
    expect(await screen.findByTestId('settings-done')).toHaveTextContent('Connected to acme. Your 2 conversations are on the way to the relay. The local inbox is kept on this computer.')
    expect(onChanged).toHaveBeenCalled()
  })

  it('shows a spinner while connecting and the relay’s problem in its words, then nothing changed', async () => {
    let fail: (e: unknown) => void = () => {}
    const t = fakeTransport({
      Settings: () => ({ relayUrl: '', workspace: '', hasToken: false }),
      ConnectPlan: () => ({ ...DEMO_PLAN, send: 0, keep: 0, demo: false }),
      Connect: () => new Promise((_, rej) => (fail = rej)),
    })
    setTransport(t)
    const onChanged = vi.fn()
    render(<SettingsDialog status={makeStatus({ sync: syncOf({ state: 'local' }) })} onClose={() => {}} onChanged={onChanged} />)
    await waitFor(() => expect(t.callsTo('Settings')).toHaveLength(1))
    fireEvent.change(screen.getByTestId('settings-relay-url'), { target: { value: 'ws://127.0.0.1:1' } })
    fireEvent.change(screen.getByTestId('settings-workspace'), { target: { value: 'acme' } })
    fireEvent.change(screen.getByTestId('settings-token'), { target: { value: 'tok' } })
    fireEvent.click(screen.getByTestId('settings-connect'))
    // An empty inbox has nothing to hide: no question.
    await waitFor(() => expect(screen.getByTestId('settings-connect')).toHaveTextContent('Connecting…'))
    expect(screen.getByTestId('settings-connect')).toBeDisabled()
    expect(screen.getByTestId('settings-connect').querySelector('.spinner')).not.toBeNull()
    expect(screen.getByTestId('settings-relay-url')).toBeDisabled()
    fail('offline: Can’t reach the relay at ws://127.0.0.1:1 (connection refused). Check the address or your network.')
    expect(await screen.findByTestId('settings-error')).toHaveTextContent(/^Can’t reach the relay at ws:\/\/127\.0\.0\.1:1 \(connection refused\)\. Check the address or your network\.$/)
    expect(screen.getByTestId('settings-connect')).toHaveTextContent('Connect')
    expect(screen.getByTestId('settings-connect')).not.toBeDisabled()
    expect(onChanged).not.toHaveBeenCalled()
  })

  it('keeps the saved token when the field is left empty, and reconnects a disconnected inbox without asking', async () => {
    const t = fakeTransport({
      Settings: () => ({ relayUrl: 'ws://127.0.0.1:8470', workspace: 'acme', hasToken: true, disconnected: true, me: { id: 'agent:ana', role: 'agent' as const, name: 'Ana' } }),
      ConnectPlan: () => ({ action: 'resume', send: 0, keep: 0, pending: 3, demo: false, returns: false }),
    })
    setTransport(t)
    render(<SettingsDialog status={makeStatus({ sync: syncOf({ state: 'disconnected' }), pending: 3 })} onClose={() => {}} onChanged={() => {}} />)
    await waitFor(() => expect(screen.getByTestId('settings-relay-url')).toHaveValue('ws://127.0.0.1:8470'))
    expect(screen.getByTestId('settings-status')).toHaveTextContent('Disconnected · 3 pending')
    expect(screen.getByTestId('settings-intro')).toHaveTextContent('Your team’s inbox stays on this computer, readable and writable')
    expect(screen.getByTestId('settings-token')).toHaveAttribute('placeholder', '•••••••• (saved; leave empty to keep it)')
    expect(screen.getByTestId('settings-connect')).toHaveTextContent('Connect again')
    fireEvent.click(screen.getByTestId('settings-connect'))
    await waitFor(() => expect(t.callsTo('Connect')).toEqual([['ws://127.0.0.1:8470', 'acme', '']]))
    expect(screen.queryByTestId('settings-confirm')).not.toBeInTheDocument()
    expect(await screen.findByTestId('settings-done')).toHaveTextContent('3 changes made while disconnected are being sent.')
    // Another workspace needs its own token.
    fireEvent.change(screen.getByTestId('settings-workspace'), { target: { value: 'other' } })
    fireEvent.click(screen.getByTestId('settings-connect'))
    expect(await screen.findByTestId('settings-error-token')).toBeInTheDocument()
  })

  it('says what a switch keeps, disconnects, and brings the local inbox back', async () => {
    const t = fakeTransport({
      Settings: () => ({
        relayUrl: 'ws://127.0.0.1:8470',
        workspace: 'acme',
        hasToken: true,
        connected: true,
        me: { id: 'agent:ana', role: 'agent' as const, name: 'Ana' },
        localInbox: { conversations: 28, sent: 2, at: Date.now() },
      }),
      ConnectPlan: () => ({ action: 'switch', send: 0, keep: 12, pending: 1, demo: false, returns: false, fromRelay: 'ws://127.0.0.1:8470', fromWorkspace: 'acme' }),
    })
    setTransport(t)
    const onChanged = vi.fn()
    render(<SettingsDialog status={makeStatus()} onClose={() => {}} onChanged={onChanged} />)
    await waitFor(() => expect(screen.getByTestId('settings-intro')).toHaveTextContent('Connected to acme as Ana.'))
    expect(screen.getByTestId('settings-local-inbox')).toHaveTextContent('Your local inbox is kept on this computer: 28 conversations, of which 2 went to the relay')

    fireEvent.change(screen.getByTestId('settings-workspace'), { target: { value: 'beta' } })
    fireEvent.change(screen.getByTestId('settings-token'), { target: { value: 'tok-beta' } })
    fireEvent.click(screen.getByTestId('settings-connect'))
    expect(await screen.findByTestId('settings-confirm')).toHaveTextContent(
      'Your inbox of acme (12 conversations, with 1 change not sent yet) stays on this computer: connect to acme again to get it back.',
    )
    fireEvent.click(screen.getByTestId('settings-confirm-cancel'))

    fireEvent.click(screen.getByTestId('settings-disconnect'))
    await waitFor(() => expect(t.callsTo('Disconnect')).toHaveLength(1))
    expect(await screen.findByTestId('settings-done')).toHaveTextContent('Disconnected. Your team’s inbox stays on this computer, readable and writable')

    fireEvent.click(screen.getByTestId('settings-use-local'))
    await waitFor(() => expect(t.callsTo('UseLocalInbox')).toHaveLength(1))
    expect(await screen.findByTestId('settings-done')).toHaveTextContent('Back to the local inbox.')
    expect(onChanged).toHaveBeenCalledTimes(2)
    expect(t.callsTo('Connect')).toHaveLength(0)
  })
})
