// Package zones loads the zones a GeoDNS server is authoritative for, and
// the regions its load-balanced names answer with.
//
// # Zone files
//
// Each zone lives in its own YAML file. A zones directory is loaded by
// reading every *.yaml and *.yml file directly in it, in name order;
// subdirectories, hidden files (names starting with ".") and files with
// other extensions are ignored, so notes and editor backups can sit beside
// the zones. A directory without any zone file is an error.
//
// This is testdata/zones/example.test.yaml, the example zone `make run`
// serves:
//
//	# example.test. — bundled example zone
//	zone: example.test.
//	ttl: 300                      # default TTL for records written without one (default 3600)
//	records: |                    # RFC 1035 master-file text; $ORIGIN is the zone, relative names allowed
//	  @        SOA  ns1 hostmaster 1 7200 1800 259200 900
//	  @        NS   ns1
//	  ns1      A    192.0.2.53
//	  ns1      AAAA 2001:db8::53
//	  static   A    192.0.2.1
//	  alias    CNAME www
//	  *.wild   TXT  "wildcard"
//	  @        MX   10 mail
//	  mail     A    192.0.2.25
//	regions:
//	  us-east:
//	    endpoint: https://us.example.com
//	    addresses: [192.0.2.10, 2001:db8::10]
//	    weight: 1
//	    location: {latitude: 38.9, longitude: -77.0}
//	    continents: [NA]
//	  eu-west:
//	    endpoint: https://eu.example.com
//	    addresses: [198.51.100.10, 2001:db8::1:10]
//	    weight: 1
//	    location: {latitude: 50.1, longitude: 8.7}
//	    continents: [EU]
//	  ap-south:
//	    endpoint: https://ap.example.com
//	    addresses: [203.0.113.10]
//	    weight: 1
//	    location: {latitude: 1.35, longitude: 103.8}
//	services:
//	  www:                        # no regions: balances over every region
//	    strategy: geo
//	    ttl: 30
//	    default: ap-south
//	  api:
//	    regions: [us-east, eu-west]
//	    strategy: weighted
//	    answers: 2
//
// The file is a YAML mapping with these keys:
//
//   - zone (required): the zone's apex, e.g. example.test. The final dot
//     may be left out and case does not matter: the name is stored as a
//     lower-case fully qualified name. Two files may not define the same
//     zone. A zone may sit inside another one (sub.example.test. beside
//     example.test.); a query goes to the most specific zone.
//   - ttl: the TTL of records written without one, 0 to 2147483647 seconds
//     (RFC 2181 §8). Default 3600.
//   - records (required): the zone's static records, as master-file text.
//   - regions: regions defined by this file, see Regions.
//   - services: the zone's load-balanced names, see Services.
//
// # Records
//
// The records key holds RFC 1035 master-file text, best written as a YAML
// literal block (records: | followed by indented lines), which keeps the
// line breaks and lets problems be reported on the exact line. Everything
// the miekg/dns parser understands works: every record type, the IN class
// written or left out, "@" for the apex, names relative to the zone
// (anything not ending in a dot), a blank owner repeating the previous
// one, ";" comments, records spanning lines in parentheses, and the $TTL
// and $ORIGIN directives. $TTL overrides the ttl key from where it
// appears. Two directives are refused: $INCLUDE, which would read files on
// the server, and $GENERATE, whose records would not get the zone's TTL
// (write them out instead).
//
// Owner names are matched without regard to case, but records are served
// as written. The records must form a valid zone:
//
//   - exactly one SOA record, at the apex;
//   - at least one NS record at the apex;
//   - every record inside the zone: its owner is the apex or below it
//     (watch $ORIGIN);
//   - class IN only;
//   - a record must have data ("www A" alone is an error) that can be put
//     in a DNS message;
//   - every NS record whose target is inside the zone needs an A or AAAA
//     record for that target (glue), since resolvers could not reach the
//     server otherwise;
//   - a name with a CNAME has exactly one CNAME and no other data (RRSIG
//     and NSEC aside, RFC 1034 §3.6.2, RFC 2181 §10.1), and there is no
//     CNAME at the apex, which always has SOA and NS records.
//
// # Regions
//
// A region is one deployment of the service behind the balanced names:
// regions maps region names to their definitions. Region names are 1 to
// 63 lower-case letters, digits and '-', not starting or ending with '-'.
// They form one namespace across all the files of a directory: a region is
// defined once, in any file, and any zone's services can use it. The keys
// of a region are:
//
//   - endpoint (required): the URL health checks use and operators know
//     the region by: an absolute http:// or https:// URL with a host, or
//     tcp://host:port (nothing after the port) for a region checked by
//     opening a TCP connection.
//   - addresses: the IPv4 and IPv6 addresses answered for the region's
//     A and AAAA queries, e.g. [192.0.2.10, 2001:db8::10]. IPv4-mapped
//     IPv6 addresses count as IPv4.
//   - cname: instead of addresses, a name to answer with a CNAME record;
//     absolute (ending in a dot) or relative to this file's zone.
//   - weight: the region's share for the weighted strategy, a number ≥ 0;
//     0 drains the region. Default 1.
//   - location: {latitude: ..., longitude: ...}, in degrees (latitude
//     -90 to 90, longitude -180 to 180): where the region is, for the geo
//     strategy's nearest-region rule.
//   - continents: continents the region serves explicitly for the geo
//     strategy, as codes: AF, AN, AS, EU, NA, OC, SA.
//   - countries: countries it serves explicitly, as ISO 3166-1 alpha-2
//     codes (DE, US, ...).
//   - check: how the region's health is checked, see Health checks.
//
// Codes may be written in either case. A region with neither addresses
// nor cname answers with its endpoint's host: an IP address there becomes
// the region's address, a host name its CNAME target. A region whose
// answer is a CNAME cannot serve a name that may not have a CNAME: the
// apex, or a name with other records.
//
// Regions can also come from the server's environment, as comma-separated
// name:URL pairs ("us-east:https://us.example.com,eu-west:https://eu.example.com",
// see ParseRegionalEndpoints). Such a region has weight 1 and answers with
// its endpoint's host as above. A region defined in a zone file takes
// precedence over an environment region of the same name.
//
// # Health checks
//
// The server checks every region's endpoint and leaves regions that fail
// out of answers. By default an http:// or https:// endpoint is checked
// with a GET of the endpoint URL that must answer a status from 200 to
// 399 (redirects are not followed), and a tcp:// endpoint by opening a
// TCP connection; every check uses the server's interval
// (HEALTH_CHECK_INTERVAL) and threshold (FAILOVER_THRESHOLD). The check
// key of a region changes any of that:
//
//	regions:
//	  us-east:
//	    endpoint: https://us.example.com
//	    check:
//	      path: /healthz?full=1     # GET https://us.example.com/healthz?full=1
//	      expect_status: 200-299
//	      expect_body: '"status":"ok"'
//	      ca_file: /etc/geodns/internal-ca.pem
//	      server_name: us.internal.example.com
//	      interval: 10s
//	      timeout: 2s
//	      fall: 3
//	      rise: 2
//	  db:
//	    endpoint: tcp://192.0.2.20:5432   # checked by connecting
//	    check: {interval: 5s, fall: 2}
//
// Every key is optional:
//
//   - kind: http, https or tcp; left out, the endpoint's scheme. An http
//     or https endpoint may be checked with tcp instead, which only opens
//     a TCP connection to its host and port (80 for http, 443 for https
//     when the URL has none); otherwise the kind must be the endpoint's
//     scheme (a check cannot switch an endpoint between http and https).
//   - path: the path, with an optional query, to request instead of the
//     endpoint URL's own, e.g. /healthz or /status?full=1; the scheme, host
//     and port stay the endpoint's.
//   - expect_status: the status a healthy answer has, as a single code
//     (204) or a range (200-299), codes from 100 to 599. Default 200-399.
//   - expect_body: text the body must contain (the first 64 KiB of it
//     are read). Left out, any body does.
//   - host: the HTTP Host header to send, a host name or IP address with
//     an optional port (api.example.com:8443), for endpoints addressed by
//     IP or behind virtual hosting.
//   - ca_file: for https, a file of PEM certificates to verify the
//     endpoint's certificate against instead of the system's roots. The
//     file is read when checks run: a missing or bad file makes the checks
//     fail (and says why) rather than the zone file.
//   - server_name: for https, the name sent in TLS SNI and expected in the
//     certificate, instead of the endpoint's host.
//   - interval: the time between checks, a duration such as 10s, 1m or
//     500ms. Default: the server's HEALTH_CHECK_INTERVAL (30s).
//   - timeout: how long one check may take before it counts as failed, a
//     duration shorter than interval. Default: a third of the interval, at
//     most 5s.
//   - fall: how many consecutive failed checks mark a healthy region down,
//     at least 1. Default: the server's FAILOVER_THRESHOLD (3).
//   - rise: how many consecutive successful checks bring a region that is
//     down back up, at least 1. Default 2.
//
// path, expect_status, expect_body and host apply to http and https checks
// only, ca_file and server_name to https checks only: writing them for
// another kind is an error. After a restart or reload the first check of a
// region decides its state directly; fall and rise apply from then on.
//
// # Services
//
// services maps names of the zone to their load-balancing settings: for
// each query, the server picks regions of the service and answers with
// their addresses (or CNAME). A name is written like an owner in the
// records: "@" for the apex (quote it: '@'), relative to the zone, or
// absolute inside the zone. A service's name may have other records (TXT,
// MX, ...) but no static A, AAAA or CNAME records, which the regions
// supply. A service written without settings (www: {} or just www:) uses
// every default. Its keys are:
//
//   - regions: the regions to balance over, by name, defined in any file
//     of the directory or in the environment. Left out or empty, the
//     service balances over every region.
//   - strategy: how regions are picked: round_robin, weighted (by region
//     weight), least_latency (lowest measured latency) or geo (by the
//     client's location). Left out, the server's default strategy applies.
//   - ttl: the TTL of the answers, 0 to 2147483647. Default 30.
//   - answers: how many regions one answer carries, at least 1. Default 1.
//   - default: the region the geo strategy falls back to when nothing
//     else decides. It must be one of the service's regions. Left out, the
//     first of the service's regions is used.
//   - nets: client networks mapped to regions, overriding the GeoIP
//     database for the geo strategy, e.g. {10.0.0.0/8: us-east,
//     2001:db8::/32: eu-west}. Networks are written in CIDR notation with
//     no host bits set (10.0.0.0/8, not 10.1.2.3/8); the most specific
//     network containing the client wins. Regions must be among the
//     service's regions.
//   - fallback: for the geo strategy, the order to try regions in when
//     those serving the client are down, before the nearest by distance.
//   - backup: a region (any region, usually one outside the service) that
//     answers when every region of the service is down. Left out, such an
//     answer fails open: it includes every region as if all were up.
//
// # YAML details
//
// A file holds a single YAML document. Unknown keys are errors, so typos
// do not go unnoticed, and so are duplicate keys. A key written with no
// value counts as left out. Aliases (*a), and with them merge keys (<<),
// are not supported.
//
// # Problems
//
// Problems are reported as "file:line: message", every problem of every
// file at once (up to 50), e.g.
//
//	zones/example.test.yaml:9: records: bad A A: "192.0.2"
//	zones/example.test.yaml:24: region eu-west weight: must be a finite number >= 0, not "-1"
//
// `geodns zone check PATH` checks a zone file or a directory of them
// without serving them (see Check); a single file must then not rely on
// regions defined in other files.
//
// # API
//
// LoadDir reads a directory, plus the environment's regions, into a Set:
// the immutable collection of zones and regions the server answers from;
// a reload builds a new Set. ParseFile and Build are its two halves (per
// file, then across files). Every loader reports problems as a *LoadError.
//
// Runtime is what operators change while the server runs (through the
// REST API), kept in the data directory apart from the zone files:
// regions added (RegionSpec, checked by the same code as a zone file's
// region) or removed, weights, the default strategy, admin states and
// manual failovers. Set.WithRuntime applies it over a Set, building a new
// one and leaving the old one to the queries still reading it.
package zones
