// Package dns answers DNS queries authoritatively from the current
// balancer.Snapshot.
//
// The answer to a query is a pure function of the request, the client
// address and the snapshot (Respond), so the same code serves miekg/dns's
// UDP and TCP servers, the fuzz targets and `geodns zone resolve`. What it
// implements, and the RFCs it follows:
//
//   - authoritative answers (aa), NXDOMAIN and NODATA with the zone SOA in
//     the authority section at the negative TTL (RFC 2308), REFUSED for
//     names outside the served zones (never an open resolver);
//   - CNAME answers, following targets inside the served zones; wildcards
//     (RFC 4592); delegations below the apex answered as referrals;
//     case-insensitive matching with the question echoed as sent;
//   - EDNS0 (RFC 6891): OPT echoed, the advertised UDP size honoured up to
//     the server's limit, TC set when an answer does not fit so resolvers
//     retry over TCP, BADVERS for EDNS versions above 0;
//   - EDNS Client Subnet (RFC 7871): the option's address decides geo
//     answers and comes back with the scope of the GeoIP network (or
//     network override) that decided them, 0 for answers that do not
//     depend on the client; source prefix 0 means "use no address";
//     malformed options get FORMERR;
//   - ANY answered with one RRset (RFC 8482); FORMERR for malformed
//     queries and for more than one question; NOTIMP for opcodes other
//     than QUERY; AXFR and IXFR refused;
//   - NSID (RFC 5001) and CHAOS TXT id.server. / hostname.bind. answered
//     with the node id.
//
// # Serving
//
// TCP is served by miekg/dns. UDP is served by this package: one socket
// per CPU bound with SO_REUSEPORT (Server.UDPWorkers), each read and
// written up to 64 datagrams per system call (recvmmsg and sendmmsg
// through golang.org/x/net), with buffers owned by its worker.
//
// A query of the common shape (one IN question, at most an OPT record with
// NSID, client subnet, cookie or padding) is read straight from its bytes
// and answered from an answer cache: responses packed once per snapshot by
// Respond itself (question in lower case), then copied and patched with
// the query's ID, RD and CD bits, question case and client subnet address
// and scope. A load-balanced name still gets a balancer decision for every
// query; the decision's region list selects the packed variant. Responses
// with more than one decision, and every other query, take the full path
// (dns.Msg, Respond, Pack). A cached answer allocates nothing and takes no
// lock; a new snapshot starts a new cache. The differential test and fuzz
// target hold the two paths to the same answers.
package dns
