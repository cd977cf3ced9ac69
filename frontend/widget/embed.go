// Package widget embeds the web chat widget's browser files (its ES module
// sources, its style sheet and the demo page) for sync/widget, which joins
// them into /widget.js and serves them. It holds no logic: //go:embed cannot
// reach a parent folder, so the files' own folder provides them.
package widget

import "embed"

// Files holds src/*.js, widget.css and demo.html, at those paths.
//
//go:embed src/*.js widget.css demo.html
var Files embed.FS
