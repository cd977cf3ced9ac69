import type { Participant } from '../api/types'

/** Whether p is a bot (an assistant): marked as one in the timeline, never offered as an assignee. */
export function isBot(p: Participant | null | undefined): boolean {
  return !!p && (p.role === 'assistant' || p.id.startsWith('ai:'))
}

/** The teammates a conversation can be assigned to: people, not the bot. */
export function assignable(team: Participant[]): Participant[] {
  return team.filter((t) => t?.id && !isBot(t))
}
