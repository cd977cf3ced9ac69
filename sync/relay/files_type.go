package relay

import (
	"bytes"
	"mime"
	"net/http"
	"strings"
)

// sniffLen is how much of a file sniffType reads: net/http's sniffing
// length.
const sniffLen = 512

// Media types the relay gives to what it refuses to keep (fileTypeAllowed).
const (
	typeELF      = "application/x-elf"
	typePE       = "application/vnd.microsoft.portable-executable"
	typeMachO    = "application/x-mach-binary" // also a Java class file: both start 0xCAFEBABE
	typeScript   = "text/x-shellscript"
	typeWasm     = "application/wasm"
	typeShortcut = "application/x-ms-shortcut"
	typeSVG      = "image/svg+xml"
)

// sniffType names the media type of a file from its first bytes (at most
// sniffLen): net/http.DetectContentType (PDF, PNG, JPEG, GIF, WebP, BMP,
// HTML, XML, text, archives, audio, video, fonts…), plus SVG, which it
// calls text/xml or text/plain, and the executables the relay refuses,
// which it calls application/octet-stream or text/plain. The type depends on
// the bytes alone: whatever a client says, the relay's type wins.
func sniffType(head []byte) string {
	head = head[:min(len(head), sniffLen)]
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return typeELF
	case bytes.HasPrefix(head, []byte("MZ")) && !strings.HasPrefix(http.DetectContentType(head), "text/"):
		return typePE // DOS and Windows programs (a text that starts "MZ…" is text)
	case bytes.HasPrefix(head, []byte{0xfe, 0xed, 0xfa, 0xce}), bytes.HasPrefix(head, []byte{0xfe, 0xed, 0xfa, 0xcf}),
		bytes.HasPrefix(head, []byte{0xce, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(head, []byte{0xcf, 0xfa, 0xed, 0xfe}),
		bytes.HasPrefix(head, []byte{0xca, 0xfe, 0xba, 0xbe}):
		return typeMachO
	case bytes.HasPrefix(head, []byte("#!")):
		return typeScript
	case bytes.HasPrefix(head, []byte("\x00asm")):
		return typeWasm
	case bytes.HasPrefix(head, []byte{0x4c, 0, 0, 0, 0x01, 0x14, 0x02, 0}):
		return typeShortcut
	}
	t := http.DetectContentType(head)
	if (strings.HasPrefix(t, "text/xml") || strings.HasPrefix(t, "text/plain")) && isSVG(head) {
		return typeSVG
	}
	return t
}

// isSVG reports whether head starts an SVG document: after a byte order
// mark, white space, an XML declaration, comments and a doctype, the root
// element is svg.
func isSVG(head []byte) bool {
	b := bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	for {
		b = bytes.TrimLeft(b, " \t\r\n")
		switch {
		case bytes.HasPrefix(b, []byte("<?")):
			i := bytes.Index(b, []byte("?>"))
			if i < 0 {
				return false
			}
			b = b[i+2:]
		case bytes.HasPrefix(b, []byte("<!--")):
			i := bytes.Index(b, []byte("-->"))
			if i < 0 {
				return false
			}
			b = b[i+3:]
		case bytes.HasPrefix(b, []byte("<!")):
			// A doctype: <!DOCTYPE svg PUBLIC "…" "…">, perhaps with an
			// internal subset, which this does not follow.
			i := bytes.IndexByte(b, '>')
			if i < 0 {
				return false
			}
			b = b[i+1:]
		default:
			if len(b) < 5 || !bytes.EqualFold(b[:4], []byte("<svg")) {
				return false
			}
			c := b[4]
			return c == ' ' || c == '>' || c == '\t' || c == '\r' || c == '\n' || c == '/' || c == ':'
		}
	}
}

// fileTypeAllowed is the relay's policy: it keeps any file but a program
// that runs when opened — native executables (ELF, Windows PE, Mach-O, and
// Java classes, which share Mach-O's magic), scripts with a #! line,
// WebAssembly modules and Windows shortcuts. Everything else is kept: a
// support inbox receives logs, archives, office documents and recordings,
// and an allow-list would refuse them; what a browser could run (HTML, SVG,
// XML) is served as a download (fileInline). Archives are not opened, so a
// program inside a zip gets through: the policy stops the attachment that
// runs on a double click, not a determined sender.
func fileTypeAllowed(t string) bool {
	switch mediaType(t) {
	case typeELF, typePE, typeMachO, typeScript, typeWasm, typeShortcut:
		return false
	}
	return true
}

// fileInline reports whether a file of type t may be shown in the browser
// (Content-Disposition: inline): raster images, PDF and plain text. Active
// content (HTML, SVG, XHTML, XML, JavaScript) and everything else is a
// download.
func fileInline(t string) bool {
	switch mediaType(t) {
	case "image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/x-icon", "image/vnd.microsoft.icon",
		"application/pdf", "text/plain":
		return true
	}
	return false
}

// mediaType is t without its parameters, lower-cased.
func mediaType(t string) string {
	if mt, _, err := mime.ParseMediaType(t); err == nil {
		return mt
	}
	mt, _, _ := strings.Cut(t, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}
