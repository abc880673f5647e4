// Package api is geodns's REST API: operators read the state of the load
// balancer and change it while the server runs, and every change takes
// effect on the next DNS query. `geodns serve` serves it beside DNS on
// --api-addr (default 127.0.0.1:8080); the `geodns status`, `regions`,
// `strategy`, `health` and `failover` commands are its command-line
// client. api/openapi.yaml describes every call (it is also served at
// GET /api/v1/openapi.yaml).
//
// # Calls
//
//	GET    /                                    the status page (HTML; its script and style under /status/)
//	GET    /healthz                             the process is alive (never needs a token)
//	GET    /readyz                              DNS is served and the first health round is done (503 until then)
//	GET    /api/v1/openapi.yaml                 this API's OpenAPI 3 document
//	GET    /api/v1/lb/status                    default strategy, regions, failovers, zones, uptime, node id
//	GET    /api/v1/stats                        DNS queries handled so far, for queries per second
//	PUT    /api/v1/lb/strategy                  {"strategy": "geo", "parameters": {"answers": 2}}
//	GET    /api/v1/lb/regions                   every region with endpoint, weight, location, health, latency
//	POST   /api/v1/lb/regions                   add a region (body below)
//	GET    /api/v1/lb/regions/{region}          one region
//	DELETE /api/v1/lb/regions/{region}          remove a region from answers and from the set
//	PUT    /api/v1/lb/regions/{region}/weight   {"weight": 2.5}
//	PUT    /api/v1/lb/regions/{region}/admin    {"state": "force-down"} (drain), "force-up" or "auto"
//	POST   /api/v1/lb/health/check              {"region": "us-east"}: check now, answer the result
//	GET    /api/v1/lb/health/history?region=us-east&limit=20   newest first
//	POST   /api/v1/lb/failover/trigger          {"from_region": "us-east", "to_region": "eu-west", "reason": "..."}
//	GET    /api/v1/lb/failover/status           manual failovers, and regions out of answers by health or drain
//	DELETE /api/v1/lb/failover/{from_region}    end a manual failover
//	GET    /api/v1/lb/zones                     the zones served
//	GET    /api/v1/lb/zones/{zone}              a zone's records (presentation format) and services
//
// A region is added with the keys of a zone-file region (see package
// zones), checked by the same code:
//
//	{"region": "us-west", "endpoint": "https://us-west.example.com", "weight": 1.0,
//	 "addresses": ["192.0.2.20", "2001:db8::20"],
//	 "location": {"latitude": 37.4, "longitude": -122.1},
//	 "countries": ["US"], "continents": ["NA"],
//	 "check": {"path": "/healthz", "interval": "10s", "expect_status": "200-299"},
//	 "services": ["api.example.com."]}
//
// Only region and endpoint are required. Without addresses (or cname) the
// region answers with its endpoint's host: an IP address as A/AAAA, a host
// name as a CNAME. The region joins every service that lists no regions of
// its own (those balance over every region) and, in addition, the services
// named in services. It is health-checked from then on and receives
// traffic as its services' strategies decide.
//
// The default strategy is the one services follow when their zone file
// names none (--strategy, LOAD_BALANCING_STRATEGY); a service that names
// its own keeps it. Its one parameter, answers, is how many regions an
// answer carries for those services, unless their zone file sets answers.
//
// # Errors
//
// Every error is a JSON object naming the field at fault ("" when none):
//
//	{"error": "must be a finite number >= 0, not \"-1\"", "field": "weight"}
//
// Bodies are strict: malformed JSON, more than one JSON value or an
// unknown field is 400; an invalid value is 400 (an unknown strategy, a bad
// URL, a negative weight, a failover from a region to itself); a region
// that already exists is 409, and so is removing a region a manual
// failover sends clients to or the last region of a service; an unknown
// region is 404. A call that fails changes nothing.
//
// # State
//
// Changes are written to runtime.json in the data directory (--data-dir)
// before the call answers, atomically (a temporary file renamed over the
// old one, so a crash leaves the old state or the new one), and applied
// over the zone files at every start and reload. The zone files and the
// environment say what exists; the state says what operators did since,
// and wins where both speak: a weight or the default strategy set through
// the API replaces the zone file's or LOAD_BALANCING_STRATEGY, a region
// removed through the API stays removed. If a zone file comes to define a
// region that was added through the API, the zone file's region is used
// and the API's is dropped (the server logs it).
//
// # Security
//
// Calls that change something (POST, PUT, DELETE) need the bearer token
// (API_TOKEN or --api-token-file) in an Authorization: Bearer header,
// compared in constant time; without it they are answered 401. With
// --api-auth-all every call but /healthz and /readyz needs it. When no
// token is configured, changes are accepted only if the API listens on a
// loopback address, and refused with 403 otherwise. Each client address
// may make --api-rate requests per second (in bursts of twice that; 429
// beyond), request bodies are limited to 64 KiB (413), and with
// --api-tls-cert and --api-tls-key the API is served over TLS only. Every
// change is logged at info level with what changed and the client's
// address.
package api
