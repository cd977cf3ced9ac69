import { createContext, useContext } from 'react'
import type { AttributeDef, Info, Me, Participant, Status } from '../api/types'
import type { TypingStore } from '../state/typing'

export interface AppState {
  info: Info | null
  me: Me | null
  status: Status | null
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
