import { fireEvent, render, screen, waitFor } from '@testing-library/react'
import { describe, expect, it, vi } from 'vitest'
import { SettingsDialog } from './Settings'
import { setTransport } from '../api'
import { fakeTransport } from '../test/fakeTransport'
import { makeStatus } from '../test/fixtures'

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
    render(<SettingsDialog status={makeStatus({ sync: { state: 'local' } })} onClose={() => {}} onChanged={onChanged} />)
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
