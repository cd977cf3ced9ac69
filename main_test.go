package main

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/threadline/threadline/app"
)

func TestParseFlags(t *testing.T) {
	cfgDir := func() (string, error) { return "/home/ana/.config", nil }
	noCfgDir := func() (string, error) { return "", errors.New("$HOME is not defined") }
	abs, _ := filepath.Abs("rel/store")

	tests := []struct {
		name    string
		args    []string
		cfgDir  func() (string, error)
		want    app.Config
		wantErr bool
	}{
		{"defaults", nil, cfgDir, app.Config{DataDir: "/home/ana/.config/threadline/default", Profile: "default"}, false},
		{"profile", []string{"--profile", "work"}, cfgDir, app.Config{DataDir: "/home/ana/.config/threadline/work", Profile: "work"}, false},
		{"data wins", []string{"--data", "/srv/tl", "--profile", "work", "--demo"}, cfgDir, app.Config{DataDir: "/srv/tl", Profile: "work", Demo: true}, false},
		{"relative data", []string{"-data=rel/store"}, noCfgDir, app.Config{DataDir: abs, Profile: "default"}, false},
		{"no config dir", nil, noCfgDir, app.Config{}, true},
		{"profile escapes", []string{"--profile", "../x"}, cfgDir, app.Config{}, true},
		{"empty profile", []string{"--profile", ""}, cfgDir, app.Config{}, true},
		{"unknown flag", []string{"--nope"}, cfgDir, app.Config{}, true},
		{"stray argument", []string{"extra"}, cfgDir, app.Config{}, true},
	}
	for _, tt := range tests {
		got, _, err := parseFlags(tt.args, io.Discard, tt.cfgDir)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFlags(%s %q) error = %v; want error %v", tt.name, tt.args, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("parseFlags(%s %q) = %+v; want %+v", tt.name, tt.args, got, tt.want)
		}
	}
}
