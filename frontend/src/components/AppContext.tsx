import { createContext, useContext } from 'react'
import type { AttributeDef, Info, Me, Participant } from '../api/types'
import type { TypingStore } from '../state/typing'

/**
 * What the panes read of the session: who I am, the team, the workspace's attributes. It changes
 * rarely (boot, a connect, the team changing); what changes with every inbox change — the Status,
 * the view counts, the list — is not in it, and reaches the sidebar and the banners as props, so a
 * component that reads this context (the conversation pane) does not re-render with the inbox.
 */
export interface AppState {
  info: Info | null
  me: Me | null
  teammates: Participant[]
  attrDefs: AttributeDef[]
  /** participant id → display name, from teammates and me */
  names: Map<string, string>
  typing: TypingStore
  /** Reloads Status (after an action that changes pending counts). */
  refreshStatus: () => void
}

export const AppContext = createContext<AppState | null>(null)

export function useApp(): AppState {
  const v = useContext(AppContext)
  if (!v) throw new Error('useApp outside AppContext')
  return v
}
