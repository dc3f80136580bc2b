package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/ticketstream/ticketstream/domain"
)

// settings binds a command's flags to environment variables: every setting
// is --name on the command line or TICKETSTREAM_NAME in the environment,
// the flag winning. Invalid values name the setting they belong to.
//
// Settings that mean the same to every command (--database, --log-level,
// --jwt-secret …) and the server's own have one variable each. Those that
// belong to one tool — simulate's --duration is not load's — are
// registered after ownSettings and carry the command's name:
// TICKETSTREAM_SIMULATE_DURATION.
type settings struct {
	fs      *flag.FlagSet
	command string
	out     io.Writer // where --help goes
	names   []string
	own     map[string]bool // the command's own settings (see ownSettings)
	owning  bool
	cmdline map[string]bool // the settings given as flags, set by parse
}

// ownSettings makes the settings registered from now on the command's own:
// their environment variables carry the command's name.
func (s *settings) ownSettings() {
	s.owning = true
	if s.own == nil {
		s.own = map[string]bool{}
	}
}

// env is the environment variable of the setting called name.
func (s *settings) env(name string) string {
	if s.own[name] {
		return envName(s.command + "-" + name)
	}
	return envName(name)
}

// check is checkSettings for settings of s, naming their variables.
func (s *settings) check(checks []check) error {
	for _, c := range checks {
		if c.bad {
			return fmt.Errorf("%w: --%s (%s) must be %s", errUsage, c.name, s.env(c.name), c.want)
		}
	}
	return nil
}

func newSettings(command string, out io.Writer) *settings {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	// The flag package prints the whole usage after a bad flag, which
	// scrolls the error away: parse prints it only for --help, and run
	// prints the error with a pointer to --help.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &settings{fs: fs, command: command, out: out}
}

// usage prints what the command does and its flags, for --help.
func (s *settings) usage() {
	fmt.Fprintf(s.out, "Usage: ticketstream %s [flags]\n\n", s.command)
	if summary := summaryOf(s.command); summary != "" {
		fmt.Fprintf(s.out, "%s%s.\n\n", strings.ToUpper(summary[:1]), summary[1:])
	}
	fmt.Fprintln(s.out, "Flags:")
	s.fs.SetOutput(s.out)
	s.fs.PrintDefaults()
	s.fs.SetOutput(io.Discard)
}

// envName is the environment variable of a setting shared by commands.
func envName(name string) string {
	return "TICKETSTREAM_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func (s *settings) add(name, usage string) string {
	s.names = append(s.names, name)
	if s.owning {
		s.own[name] = true
	}
	return usage + " (env " + s.env(name) + ")"
}

// String registers a string setting, as flag.FlagSet.StringVar does, with its environment variable.
func (s *settings) String(p *string, name, def, usage string) {
	s.fs.StringVar(p, name, def, s.add(name, usage))
}

// Int registers an int setting, as flag.FlagSet.IntVar does, with its environment variable.
func (s *settings) Int(p *int, name string, def int, usage string) {
	s.fs.IntVar(p, name, def, s.add(name, usage))
}

// Uint64 registers a uint64 setting, as flag.FlagSet.Uint64Var does, with its environment variable.
func (s *settings) Uint64(p *uint64, name string, def uint64, usage string) {
	s.fs.Uint64Var(p, name, def, s.add(name, usage))
}

// Duration registers a duration setting, as flag.FlagSet.DurationVar does, with its environment variable.
func (s *settings) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	s.fs.DurationVar(p, name, def, s.add(name, usage))
}

// Float64 registers a float64 setting, as flag.FlagSet.Float64Var does,
// with its environment variable.
func (s *settings) Float64(p *float64, name string, def float64, usage string) {
	s.fs.Float64Var(p, name, def, s.add(name, usage))
}

// Bool registers a bool setting, as flag.FlagSet.BoolVar does, with its environment variable.
func (s *settings) Bool(p *bool, name string, def bool, usage string) {
	s.fs.BoolVar(p, name, def, s.add(name, usage))
}

// given reports whether the setting was on the command line (not only in
// the environment). Call it after parse.
func (s *settings) given(name string) bool { return s.cmdline[name] }

// errUsage marks errors in how the command was called (exit status 2).
var errUsage = errors.New("usage")

// parse reads args, then the environment for every setting not given as a
// flag. It returns an error wrapping errUsage for a bad flag or value, and
// flag.ErrHelp for -h.
func (s *settings) parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			s.usage()
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if s.fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, s.fs.Arg(0))
	}
	s.warnRenamed()
	given := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	s.cmdline = given
	sort.Strings(s.names)
	for _, name := range s.names {
		if given[name] {
			continue
		}
		if v, ok := os.LookupEnv(s.env(name)); ok {
			if err := s.fs.Set(name, v); err != nil {
				return fmt.Errorf("%w: invalid value %q for %s (--%s): %v", errUsage, v, s.env(name), name, err)
			}
		}
	}
	return nil
}

// warnRenamed says so when the environment sets the old, shared name of one
// of the command's own settings (TICKETSTREAM_TTL for token's --ttl):
// those variables are not read any more, and a setting that silently does
// nothing is worse than a warning.
func (s *settings) warnRenamed() {
	names := make([]string, 0, len(s.own))
	for name := range s.own {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, set := os.LookupEnv(envName(name)); set {
			fmt.Fprintf(s.out, "ticketstream %s: %s is not read; --%s of %s is %s\n", s.command, envName(name), name, s.command, s.env(name))
		}
	}
}

// check is one rule on a setting's value, for checkSettings.
type check struct {
	name string // the flag, without dashes
	bad  bool
	want string // what a valid value is, for the message
}

// checkSettings returns a usage error naming the first setting that breaks
// its rule, with its flag and environment variable.
func checkSettings(checks []check) error {
	for _, c := range checks {
		if c.bad {
			return fmt.Errorf("%w: --%s (%s) must be %s", errUsage, c.name, envName(c.name), c.want)
		}
	}
	return nil
}

// flagOf names the flag of a configuration setting whose flag is named
// otherwise (its unit differs).
var flagOf = map[string]string{"live-memory-budget": "live-memory-budget-mib"}

// settingError turns a configuration's EInvalid error, which names its
// setting, into a usage error naming the flag and its environment
// variable. Other errors pass unchanged.
func settingError(err error) error {
	var derr *domain.Error
	if err == nil || !errors.As(err, &derr) || derr.Code != domain.EInvalid || derr.Param == "" {
		return err
	}
	name := derr.Param
	if f, ok := flagOf[name]; ok {
		name = f
	}
	return fmt.Errorf("%w: --%s (%s) %s", errUsage, name, envName(name), derr.Message)
}
