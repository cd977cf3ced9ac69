import { fireEvent, screen, waitFor } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import { renderApp } from '../test/app'
import { makeStatus, syncOf } from '../test/fixtures'

const localInfo = { version: 'test', profile: 'default', dataDir: '/tmp', demo: false, me: { id: 'agent:me', role: 'agent' as const, name: 'You' }, connected: false }

describe('the first run without --demo', () => {
  it('says what Threadline is and how to connect to a team’s relay', async () => {
    renderApp({
      Info: () => localInfo,
      Status: () => makeStatus({ sync: syncOf({ state: 'local' }) }),
      Inbox: () => ({ rows: [], total: 0 }),
      Settings: () => ({ relayUrl: '', workspace: '', hasToken: false }),
    })
    const welcome = await screen.findByTestId('welcome')
    expect(welcome).toHaveTextContent('Threadline is your team’s support inbox')
    expect(welcome).toHaveTextContent('connect to your team’s relay. You need its address, your workspace id and your agent token')
    fireEvent.click(screen.getByTestId('welcome-connect'))
    await waitFor(() => expect(screen.getByTestId('settings')).toBeInTheDocument())
  })

  it('is not shown in a demo, nor once connected or disconnected', async () => {
    for (const info of [{ ...localInfo, demo: true }, { ...localInfo, connected: true }, { ...localInfo, disconnected: true }]) {
      const { unmount } = renderApp({ Info: () => info })
      await screen.findByTestId('no-conversation')
      expect(screen.queryByTestId('welcome')).not.toBeInTheDocument()
      unmount()
    }
  })
})
