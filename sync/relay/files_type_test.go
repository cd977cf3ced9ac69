package relay

import (
	"bytes"
	"testing"
)

// sniffType names a file by its bytes; fileTypeAllowed refuses programs;
// fileInline shows only images, PDF and plain text in the browser.
func TestSniffType(t *testing.T) {
	riff := func(kind string) []byte { return append([]byte("RIFF\x24\x00\x00\x00"), kind...) }
	tests := []struct {
		name    string
		head    []byte
		want    string
		allowed bool
		inline  bool
	}{
		{"png", pngFile, "image/png", true, true},
		{"jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "image/jpeg", true, true},
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), "image/gif", true, true},
		{"webp", riff("WEBPVP8 "), "image/webp", true, true},
		{"pdf", pdfFile, "application/pdf", true, true},
		{"text", textFile, "text/plain; charset=utf-8", true, true},
		{"utf-16 text", []byte("\xfe\xff\x00h\x00i"), "text/plain; charset=utf-16be", true, true},
		{"a text that starts MZ", []byte("MZ Logistics: order 1234 shipped\n"), "text/plain; charset=utf-8", true, true},
		{"html", htmlFile, "text/html; charset=utf-8", true, false},
		{"svg with a declaration", svgFile, "image/svg+xml", true, false},
		{"bare svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "image/svg+xml", true, false},
		{"svg after a comment and a doctype", []byte("\xef\xbb\xbf <!-- logo -->\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x\">\n<svg>"), "image/svg+xml", true, false},
		{"svgz is not svg", []byte("<svgz>"), "text/plain; charset=utf-8", true, true},
		{"xml", xmlFile, "text/xml; charset=utf-8", true, false},
		{"zip", zipFile, "application/zip", true, false},
		{"unknown bytes", []byte{0, 1, 2, 3, 4, 5}, "application/octet-stream", true, false},
		{"empty", nil, "text/plain; charset=utf-8", true, true},
		{"elf", elfFile, typeELF, false, false},
		{"windows exe", exeFile, typePE, false, false},
		{"mach-o", []byte{0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1}, typeMachO, false, false},
		{"java class", []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52}, typeMachO, false, false},
		{"script", shFile, typeScript, false, false},
		{"wasm", []byte("\x00asm\x01\x00\x00\x00"), typeWasm, false, false},
		{"windows shortcut", append([]byte{0x4c, 0, 0, 0, 0x01, 0x14, 0x02, 0}, bytes.Repeat([]byte{0}, 70)...), typeShortcut, false, false},
	}
	for _, tt := range tests {
		got := sniffType(tt.head)
		if got != tt.want || fileTypeAllowed(got) != tt.allowed || fileInline(got) != tt.inline {
			t.Errorf("sniffType(%s) = %q allowed %v inline %v; want %q %v %v", tt.name, got, fileTypeAllowed(got), fileInline(got), tt.want, tt.allowed, tt.inline)
		}
	}
}
