// The rules JavaScript applies as backend/conv does — rule 8's unread, the id scheme, how the
// relay's answer settles a pending event — have one implementation, the web widget's
// (frontend/widget/src/model.js), which the desktop UI imports here. conv's Go tests write their
// vectors (backend/conv/testdata/*.json); rules.test.ts runs them here, the widget's
// unit/rules.test.mjs and unit/unread.test.mjs there.
export { countsAsUnread, isEndUser as isEndUserByRole, parseId, roleOfId, settlePending, type Settlement } from '../../widget/src/model.js'
