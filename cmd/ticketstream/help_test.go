package main

import (
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// Help about help, in any spelling, is the general help: it once recursed
// until the stack overflowed.
func TestCLI_HelpAboutHelpIsTheGeneralHelp(t *testing.T) {
	for _, args := range [][]string{
		{"help", "help"}, {"help", "--help"}, {"help", "-h"}, {"help", "-help"},
		{"--help", "--help"}, {"-h", "help"},
	} {
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 || !strings.Contains(stdout, "Commands:") {
			t.Errorf("%q: exit %d, stdout:\n%s\nstderr:\n%s\nwant exit 0 and the command list", args, code, stdout, stderr)
		}
	}
}

// A command's --help says what the command does before its flags, and a
// command lists only the flags it uses: the streaming core's sizes belong
// to the commands that stream.
func TestCLI_EachCommandsHelpSaysWhatItDoes(t *testing.T) {
	streams := map[string]bool{"serve": true, "export": true, "tune": true}
	for _, c := range commands() {
		if c.name == "version" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			code, _, help := runCLI(t, c.name, "--help")
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			first := strings.ToUpper(c.summary[:1]) + c.summary[1:]
			if !strings.HasPrefix(help, "Usage: ticketstream "+c.name) || !strings.Contains(help, first) {
				t.Fatalf("--help does not start with the usage and say %q:\n%s", first, help)
			}
			if got := strings.Contains(help, "-batch-size"); got != streams[c.name] {
				t.Errorf("--help lists --batch-size: %v, want %v:\n%s", got, streams[c.name], help)
			}
		})
	}
}

// A bad flag is reported in a few lines that end with where to look; the
// flag list would scroll the error away.
func TestCLI_ABadFlagIsShortAndPointsToHelp(t *testing.T) {
	code, stdout, stderr := runCLI(t, "seed", "--cuont", "5")
	if code != 2 || stdout != "" || strings.Count(stderr, "\n") > 3 || !strings.Contains(stderr, "ticketstream seed --help") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit 2 and a short error pointing to --help", code, stdout, stderr)
	}
}

// Settings of one tool have variables of their own: simulate's --duration
// is not load's, and a TICKETSTREAM_DURATION meant for one must not steer
// the other. Settings every command shares keep one name.
func TestCLI_AToolsOwnSettingsHaveTheirOwnVariables(t *testing.T) {
	for _, tc := range []struct{ command, flag, env string }{
		{"simulate", "duration", "TICKETSTREAM_SIMULATE_DURATION"},
		{"load", "duration", "TICKETSTREAM_LOAD_DURATION"},
		{"token", "teams", "TICKETSTREAM_TOKEN_TEAMS"},
		{"token", "ttl", "TICKETSTREAM_TOKEN_TTL"},
		{"seed", "count", "TICKETSTREAM_SEED_COUNT"},
		{"export", "query", "TICKETSTREAM_EXPORT_QUERY"},
		{"token", "jwt-secret", "TICKETSTREAM_JWT_SECRET"},
		{"load", "database", "TICKETSTREAM_DATABASE"},
		{"export", "cursor-key-file", "TICKETSTREAM_CURSOR_KEY_FILE"},
		{"migrate", "log-level", "TICKETSTREAM_LOG_LEVEL"},
	} {
		_, _, help := runCLI(t, tc.command, "--help")
		i := strings.Index(help, "  -"+tc.flag+" ")
		if i < 0 {
			t.Fatalf("%s --help lacks --%s:\n%s", tc.command, tc.flag, help)
		}
		line := help[i:]
		if j := strings.Index(line[1:], "\n  -"); j >= 0 {
			line = line[:j+1]
		}
		if !strings.Contains(line, "(env "+tc.env+")") {
			t.Errorf("%s --%s: want %s in %q", tc.command, tc.flag, tc.env, line)
		}
	}
}

// version names the module version and the revision the go command
// recorded in the binary; a binary built without them says "dev".
func TestCLI_VersionNamesTheRevision(t *testing.T) {
	info := &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T20:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{info, true, "ticketstream v1.4.0 (revision 0123456789ab+modified, 2026-12-01T20:00:00Z) go"},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "ticketstream dev go"},
		{nil, false, "ticketstream dev go"},
	} {
		if got := versionLine(tc.info, tc.ok); !strings.HasPrefix(got, tc.want) {
			t.Errorf("versionLine = %q, want it to start with %q", got, tc.want)
		}
	}
}

// simulate owes one write at the start and one every 1/rate after it: a
// second at --rate 5 is five writes, not the four a ticker alone gave.
func TestSimulate_WritesDue(t *testing.T) {
	for _, tc := range []struct {
		elapsed time.Duration
		rate    int
		want    int
	}{
		{0, 5, 1},
		{199 * time.Millisecond, 5, 1},
		{200 * time.Millisecond, 5, 2},
		{999 * time.Millisecond, 5, 5},
		{10 * time.Second, 500, 5001},
	} {
		if got := writesDue(tc.elapsed, tc.rate); got != tc.want {
			t.Errorf("writesDue(%v, %d) = %d, want %d", tc.elapsed, tc.rate, got, tc.want)
		}
	}
}

// A variable under its old, shared name is not read, and says so: a token
// meant to last a minute must not silently last a day.
func TestCLI_AnOldVariableNameIsWarnedAbout(t *testing.T) {
	t.Setenv("TICKETSTREAM_TTL", "1m")
	code, _, stderr := runCLI(t, "token", "--teams", "billing", "--jwt-secret", strings.Repeat("s", 32))
	if code != 0 || !strings.Contains(stderr, "TICKETSTREAM_TTL is not read; --ttl of token is TICKETSTREAM_TOKEN_TTL") {
		t.Fatalf("exit %d, stderr %q: want a warning naming TICKETSTREAM_TOKEN_TTL", code, stderr)
	}
}
