// Types of the rules in model.js that the desktop UI imports (frontend/src/lib/rules.ts). Only
// what is declared here is visible to TypeScript; the widget itself is plain JavaScript.
interface ParticipantLike {
  id: string
  role: string
}
export function isEndUser(p: ParticipantLike | null | undefined): boolean
export type IdRole = '' | 'agent' | 'assistant' | 'contact' | 'visitor' | 'system'
export function parseId(id: string): { role: IdRole; valid: boolean }
export function roleOfId(id: string): IdRole
export function countsAsUnread(viewer: ParticipantLike, kind: string, actor: ParticipantLike | null | undefined): boolean
export type Settlement = 'drop' | 'sent' | 'failed'
export function settlePending(kind: string, outcome: { seq?: number; error?: { code: string; message: string } | null }, applied: number): Settlement
