// The Go side's saved-replies bindings (app/replies.go): Replies, SaveReply, DeleteReply.
import { getTransport } from '.'
import type { Reply, SavedReply } from '../lib/replies'

export type { Reply, SavedReply } from '../lib/replies'

export const repliesApi = {
  /** The team's saved replies by title, then the saves the relay refused. */
  Replies: async () => ((await getTransport().call('Replies', [])) as SavedReply[] | null) ?? [],
  /** Saves a reply (a new one when id is empty); returns it as saved. */
  SaveReply: (r: Reply) => getTransport().call('SaveReply', [r]) as Promise<Reply>,
  DeleteReply: (id: string) => getTransport().call('DeleteReply', [id]) as Promise<null>,
}
