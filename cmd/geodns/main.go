// Command geodns is an authoritative GeoDNS server for DNS-based global
// load balancing. Run `geodns --help` for its commands.
package main

import (
	"os"

	"github.com/geodns/geodns/cmd"
)

func main() {
	os.Exit(cmd.Execute())
}
