package conv

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// RoleOfID returns the role a participant id's prefix names (DESIGN §2:
// "agent:ana" an agent, "ai:faq" an assistant, "contact:42" a contact,
// "visitor:<uuid>" a visitor, "system" the actor of derived events; "" for
// any other prefix) and whether id is well-formed: a known prefix followed
// by at least one character, at most MaxIDChars bytes in all, valid UTF-8
// with no control characters or spaces. A supervisor is an agent by its id:
// supervising is a role in a conversation, not an identity.
//
// Clients outside Go apply the same rule: testdata/ids.json holds its
// vectors (TestIDVectors), which the widget's and the desktop UI's tests run.
func RoleOfID(id string) (Role, bool) {
	if id == System.ID {
		return RoleSystem, true
	}
	var role Role
	var rest string
	for _, p := range []struct {
		prefix string
		role   Role
	}{{AgentPrefix, RoleAgent}, {AssistantPrefix, RoleAssistant}, {ContactPrefix, RoleContact}, {VisitorPrefix, RoleVisitor}} {
		if strings.HasPrefix(id, p.prefix) {
			role, rest = p.role, id[len(p.prefix):]
			break
		}
	}
	if role == "" {
		return "", false
	}
	if rest == "" || len(id) > MaxIDChars || !utf8.ValidString(id) {
		return role, false
	}
	for _, r := range rest {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return role, false
		}
	}
	return role, true
}
