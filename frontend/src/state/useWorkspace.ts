import { useCallback, useState } from 'react'
import { api, describeError } from '../api'
import type { AttributeDef, InboxQuery, Participant, SavedView } from '../api/types'
import { sameOr } from '../lib/hooks'

/** What the workspace defines and the profile keeps: the team, the custom attributes, the saved views. */
export function useWorkspace() {
  const [teammates, setTeammates] = useState<Participant[]>([])
  const [attrDefs, setAttrDefs] = useState<AttributeDef[]>([])
  const [savedViews, setSavedViews] = useState<SavedView[]>([])

  const loadWorkspace = useCallback(async () => {
    const [tm, defs, views] = await Promise.allSettled([api.Teammates(), api.Attributes(), api.Views()])
    if (tm.status === 'fulfilled') setTeammates(sameOr(tm.value ?? []))
    if (defs.status === 'fulfilled') setAttrDefs(sameOr(defs.value ?? []))
    if (views.status === 'fulfilled') setSavedViews(sameOr(views.value ?? []))
  }, [])

  /** Saves the query under a name; the error's message when it cannot. */
  const saveView = useCallback(async (name: string, query: InboxQuery): Promise<string | null> => {
    try {
      await api.SaveView(name, query)
      setSavedViews((v) => [...v.filter((x) => x.name !== name), { name, query }])
      return null
    } catch (e) {
      return describeError(e)
    }
  }, [])

  const deleteView = useCallback(async (name: string) => {
    try {
      await api.DeleteView(name)
      setSavedViews((v) => v.filter((x) => x.name !== name))
    } catch (e) {
      window.alert(`Could not delete the view: ${describeError(e)}`)
    }
  }, [])

  return { teammates, attrDefs, savedViews, loadWorkspace, saveView, deleteView }
}
