package cmd

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/geodns/geodns/balancer"
	dnsserver "github.com/geodns/geodns/dns"
	"github.com/geodns/geodns/zones"
)

func newZoneCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "zone",
		Short: "Check, show and query zone files without a running server",
	}
	c.AddCommand(newZoneCheckCmd(), newZoneShowCmd(), newZoneResolveCmd())
	return c
}

func newZoneCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check PATH",
		Short: "Validate a zone file or a directory of zone files",
		Long: `Validate a zone file or every zone file of a directory, as "serve" would
load them. Prints every problem as FILE:LINE: MESSAGE and exits 1 when there
is one; prints a summary and exits 0 otherwise.`,
		Example: "  geodns zone check testdata/zones\n  geodns zone check /etc/geodns/zones/example.com.yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			set, err := zones.Check(args[0])
			if err != nil {
				return errorf(c, 1, "%v", err)
			}
			for _, z := range set.Zones {
				services := 0
				for _, n := range z.Nodes {
					if n.Service != nil {
						services++
					}
				}
				fmt.Fprintf(c.OutOrStdout(), "%s: zone %s OK (%d names, %d services)\n", z.File, z.Origin, len(z.Nodes), services)
			}
			fmt.Fprintf(c.OutOrStdout(), "%d regions: %s\n", len(set.RegionNames), strings.Join(set.RegionNames, ", "))
			return nil
		},
	}
}

func newZoneShowCmd() *cobra.Command {
	var s settings
	c := &cobra.Command{
		Use:     "show ZONE",
		Short:   "Print a zone's records in presentation format and its services with their regions",
		Example: "  geodns zone show example.test --zones testdata/zones",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := s.load(c); err != nil {
				return err
			}
			set, err := zones.LoadDir(s.ZonesDir, s.RegionalEndpoints)
			if err != nil {
				return errorf(c, 1, "%v", err)
			}
			origin := dns.CanonicalName(args[0])
			for _, z := range set.Zones {
				if z.Origin == origin {
					showZone(c.OutOrStdout(), set, z)
					return nil
				}
			}
			return errorf(c, 1, "zone %s is not among the zones of %s", origin, s.ZonesDir)
		},
	}
	addCommonFlags(c, &s)
	return c
}

// showZone prints records sorted by name and type, then services.
func showZone(w io.Writer, set *zones.Set, z *zones.Zone) {
	names := make([]string, 0, len(z.Nodes))
	for name := range z.Nodes {
		names = append(names, name)
	}
	slices.SortFunc(names, compareNames)
	fmt.Fprintf(w, "; zone %s from %s\n", z.Origin, z.File)
	for _, name := range names {
		node := z.Nodes[name]
		types := make([]uint16, 0, len(node.Records))
		for t := range node.Records {
			types = append(types, t)
		}
		slices.Sort(types)
		for _, t := range types {
			for _, rr := range node.Records[t] {
				fmt.Fprintln(w, rr.String())
			}
		}
	}
	fmt.Fprintln(w, "\n; services")
	for _, name := range names {
		svc := z.Nodes[name].Service
		if svc == nil {
			continue
		}
		strategy := svc.Strategy
		if strategy == "" {
			strategy = "(server default)"
		}
		fmt.Fprintf(w, "%s ttl %d strategy %s answers %d\n", svc.Name, svc.TTL, strategy, svc.Answers)
		for _, r := range set.ServiceRegions(svc) {
			fmt.Fprintf(w, "    region %s\n", describeRegion(r))
		}
		if svc.Default != "" {
			fmt.Fprintf(w, "    default %s\n", svc.Default)
		}
		for _, o := range svc.Nets {
			fmt.Fprintf(w, "    net %s -> %s\n", o.Prefix, o.Region)
		}
	}
}

// compareNames orders owner names as DNSSEC canonical order does: by
// labels from the right, so a name's children follow it.
func compareNames(a, b string) int {
	la, lb := dns.SplitDomainName(a), dns.SplitDomainName(b)
	slices.Reverse(la)
	slices.Reverse(lb)
	return slices.Compare(la, lb)
}

func describeRegion(r *zones.Region) string {
	var answer []string
	for _, a := range r.IPv4 {
		answer = append(answer, a.String())
	}
	for _, a := range r.IPv6 {
		answer = append(answer, a.String())
	}
	if r.CNAME != "" {
		answer = append(answer, "CNAME "+r.CNAME)
	}
	var where []string
	if r.Location != nil {
		where = append(where, fmt.Sprintf("at %.2f,%.2f", r.Location.Latitude, r.Location.Longitude))
	}
	if len(r.Continents) > 0 {
		where = append(where, "continents "+strings.Join(r.Continents, ","))
	}
	if len(r.Countries) > 0 {
		where = append(where, "countries "+strings.Join(r.Countries, ","))
	}
	return fmt.Sprintf("%s %s weight %g answers [%s] %s", r.Name, r.Endpoint, r.Weight, strings.Join(answer, " "), strings.Join(where, " "))
}

func newZoneResolveCmd() *cobra.Command {
	var s settings
	var client, subnet string
	c := &cobra.Command{
		Use:   "resolve NAME [TYPE]",
		Short: "Show the answer a client would get, and why",
		Long: `Answer NAME (type A unless given) as the server would for a query from
--client, and explain the decision: where the GeoIP database places the
client, the strategy, the candidate regions and the rule that chose.
--subnet answers as if a resolver had sent that EDNS Client Subnet.`,
		Example: `  geodns zone resolve www.example.test A --client 198.51.100.7 --zones testdata/zones --geoip testdata/geoip-city.mmdb
  geodns zone resolve www.example.test AAAA --subnet 2001:db8::/48`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			if err := s.load(c); err != nil {
				return err
			}
			qtype := dns.TypeA
			if len(args) == 2 {
				t, ok := dns.StringToType[strings.ToUpper(args[1])]
				if !ok {
					return errorf(c, 2, "unknown record type %q", args[1])
				}
				qtype = t
			}
			src, err := netip.ParseAddr(client)
			if err != nil {
				return errorf(c, 2, "--client %q: not an IP address", client)
			}
			req := new(dns.Msg)
			req.SetQuestion(dns.Fqdn(args[0]), qtype)
			if subnet != "" {
				p, err := netip.ParsePrefix(subnet)
				if err != nil {
					return errorf(c, 2, "--subnet %q: %v", subnet, err)
				}
				req.SetEdns0(dnsserver.MaxUDPSize, false)
				req.IsEdns0().Option = append(req.IsEdns0().Option, dnsserver.ClientSubnet(p))
			}
			log, err := newLogger(os.Stderr, "warn", s.LogFormat)
			if err != nil {
				return err
			}
			snap, closeGeo, err := buildSnapshot(s, log)
			if err != nil {
				return errorf(c, 1, "%v", err)
			}
			defer closeGeo()
			res := dnsserver.Respond(balancer.NewStore(snap).Load(), req, src, true)
			explain(c.OutOrStdout(), snap, res)
			return nil
		},
	}
	addCommonFlags(c, &s)
	c.Flags().StringVar(&client, "client", "127.0.0.1", "address the query comes from")
	c.Flags().StringVar(&subnet, "subnet", "", "EDNS Client Subnet to send, e.g. 198.51.100.0/24")
	return c
}

// explain prints the client, each decision and the response.
func explain(w io.Writer, snap *balancer.Snapshot, res dnsserver.Result) {
	if len(res.Decisions) > 0 {
		cl := res.Client
		switch {
		case !cl.Addr.IsValid():
			fmt.Fprintln(w, "client: no address to use (ECS source prefix 0)")
		case snap.Geo == nil:
			fmt.Fprintf(w, "client %s: no GeoIP database loaded\n", cl.Addr)
		case !cl.Located:
			fmt.Fprintf(w, "client %s: not in the GeoIP database (network %s)\n", cl.Addr, cl.Loc.Network)
		default:
			l := cl.Loc
			fmt.Fprintf(w, "client %s: continent %s country %s subdivision %s", cl.Addr, l.Continent, l.Country, l.Subdivision)
			if l.HasCoordinates {
				fmt.Fprintf(w, " at %.2f,%.2f", l.Latitude, l.Longitude)
			}
			fmt.Fprintf(w, " (GeoIP network %s)\n", l.Network)
		}
	}
	for _, d := range res.Decisions {
		fmt.Fprintf(w, "service %s: %s\n", d.Service, d.Explain())
		svc := findService(snap.Zones, d.Service)
		if svc == nil {
			continue
		}
		for _, r := range snap.Zones.ServiceRegions(svc) {
			state := "up"
			if h := snap.Health[r.Name]; h.Down {
				state = "down: " + h.Reason
			}
			fmt.Fprintf(w, "    candidate %s (%s)\n", describeRegion(r), state)
		}
	}
	if res.Msg == nil {
		fmt.Fprintln(w, "no response (the query would be dropped)")
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, res.Msg.String())
}

func findService(set *zones.Set, name string) *zones.Service {
	if z := set.Find(name); z != nil {
		if n := z.Nodes[name]; n != nil {
			return n.Service
		}
	}
	return nil
}
