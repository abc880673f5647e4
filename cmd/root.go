// Package cmd wires geodns together: it reads flags, the environment and
// the .env file, builds the zone set, GeoIP database and snapshot store,
// starts the servers and implements the command-line interface.
package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
)

// Version and Commit are set at build time with -ldflags -X.
var (
	Version = "dev"
	Commit  = "unknown"
)

// Execute runs the command line and returns the process exit code.
func Execute() int {
	root := newRoot(os.Stdout, os.Stderr)
	if err := root.Execute(); err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			return exit.code
		}
		fmt.Fprintln(os.Stderr, "geodns:", err)
		return 1
	}
	return 0
}

// exitError carries an exit code for failures already reported to the user.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "geodns",
		Short: "Authoritative GeoDNS server for DNS-based global load balancing",
		Long: `geodns is an authoritative name server for load-balanced names. For every
query it answers with the region (or regions) that suits the client best — by
geography (GeoIP of the client, or of the EDNS Client Subnet a resolver sends),
round robin, weight or least latency — and never with a region that is down.

Start with "geodns serve --zones DIR", check zone files with "geodns zone check",
and ask what a client would get with "geodns zone resolve". A running server is
managed through its REST API, or with "geodns status", "geodns regions",
"geodns strategy", "geodns health" and "geodns failover", which call it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServeCmd(), newZoneCmd(), newVersionCmd(),
		newStatusCmd(), newRegionsCmd(), newStrategyCmd(), newHealthCmd(), newFailoverCmd())
	return root
}

// newLogger builds the process logger: console output on a terminal, JSON
// otherwise (or as format says: console, json, auto).
func newLogger(w *os.File, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("--log-level %q: %w", level, err)
	}
	var out io.Writer = w
	switch format {
	case "json":
	case "console":
		out = zerolog.ConsoleWriter{Out: w}
	case "auto", "":
		if fi, err := w.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			out = zerolog.ConsoleWriter{Out: w}
		}
	default:
		return zerolog.Nop(), fmt.Errorf("--log-format %q: want auto, console or json", format)
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger(), nil
}
