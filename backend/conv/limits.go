package conv

// Limits of DESIGN §4 and §5. The wire protocol repeats the ones a client
// must respect before it pushes; these are the ones the reducer enforces.
const (
	MaxTextBytes      = 32 << 10 // a message or note, in bytes of UTF-8
	MaxTopicChars     = 200      // a thread topic, in characters
	MaxTagChars       = 32       // one tag, after trimming
	MaxTags           = 20       // tags on one conversation
	MaxSubjectChars   = 200      // a conversation's subject
	MaxAttachments    = 10       // attachments on one message or note
	MaxFileBytes      = 25 << 20 // one attachment's bytes
	MaxFileTypeBytes  = 255      // an attachment's media type (RFC 6838: 127 + "/" + 127)
	MaxNameChars      = 200      // names: attachment, channel, a contact's
	MaxEmailBytes     = 254      // a contact's email (RFC 5321's path limit)
	MaxAttributeKeys  = 50       // keys in one attributes.set
	MaxAttributeChars = 1000     // a string attribute value
	MaxIDChars        = 128      // participant and entity ids

	MaxReplyTitleChars    = 100     // a saved reply's title
	MaxReplyTextChars     = 5000    // a saved reply's text
	MaxReplyShortcutChars = 32      // a saved reply's shortcut: [a-z0-9-]
	MaxReplies            = 500     // saved replies in a workspace's library
	MaxLibraryBytes       = 1 << 20 // titles and texts of the whole library, in bytes of UTF-8
)
