package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=…"; without
// it the module version the go command recorded is shown.
var version = "dev"

// printVersion writes the version, the VCS revision the binary was built
// from (with "+modified" when the working tree had changes) and the Go
// release, as the go command recorded them in the binary.
func printVersion(w io.Writer) {
	fmt.Fprintln(w, versionLine(debug.ReadBuildInfo()))
}

func versionLine(info *debug.BuildInfo, ok bool) string {
	v := version
	var revision, at, modified string
	if ok {
		if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = "+modified"
				}
			}
		}
	}
	line := "ticketstream " + v
	if revision != "" {
		line += fmt.Sprintf(" (revision %.12s%s", revision, modified)
		if at != "" {
			line += ", " + at
		}
		line += ")"
	}
	return line + " " + runtime.Version()
}
