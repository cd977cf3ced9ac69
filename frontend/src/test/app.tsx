// Renders the whole App over a fake transport (tests only).
import { render } from '@testing-library/react'
import { vi } from 'vitest'
import App from '../components/App'
import { setTransport } from '../api'
import { fakeTransport, type FakeTransport } from './fakeTransport'
import { fakeInbox } from './rows'
import { ME, makeDetail, makeStatus } from './fixtures'

export function appHandlers(over: Record<string, (...args: any[]) => unknown> = {}) {
  return {
    Info: () => ({ version: 'test', profile: 'default', dataDir: '/tmp', demo: false, me: ME, workspace: 'acme', connected: true }),
    Status: () => makeStatus(),
    Inbox: fakeInbox({ total: 50 }),
    Conversation: (id: string) => makeDetail(id),
    Timeline: () => ({ items: [] }),
    Search: () => [],
    Teammates: () => [ME],
    Attributes: () => [],
    Views: () => [],
    Draft: () => '',
    ...over,
  }
}

export function renderApp(over: Record<string, (...args: any[]) => unknown> = {}, props: { pageSize?: number; listHeight?: number } = {}) {
  const t: FakeTransport = fakeTransport(appHandlers(over))
  setTransport(t)
  vi.spyOn(document, 'hasFocus').mockReturnValue(true)
  const r = render(<App pageSize={props.pageSize ?? 50} listHeight={props.listHeight ?? 720} />)
  return { ...r, t }
}
