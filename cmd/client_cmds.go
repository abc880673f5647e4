package cmd

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/geodns/geodns/zones"
)

// What the client reads of the API's answers (see api/openapi.yaml).
type (
	regionInfo struct {
		Region     string   `json:"region"`
		Endpoint   string   `json:"endpoint"`
		Source     string   `json:"source"`
		Weight     float64  `json:"weight"`
		Addresses  []string `json:"addresses"`
		CNAME      string   `json:"cname"`
		AdminState string   `json:"admin_state"`
		InAnswers  bool     `json:"in_answers"`
		Reason     string   `json:"reason"`
		Services   []string `json:"services"`
		Location   *struct {
			Latitude  float64 `json:"latitude"`
			Longitude float64 `json:"longitude"`
		} `json:"location"`
		Health healthInfo `json:"health"`
	}
	healthInfo struct {
		Status    string    `json:"status"`
		Stale     bool      `json:"stale"`
		LatencyMS float64   `json:"latency_ms"`
		LastCheck time.Time `json:"last_check"`
		Reason    string    `json:"reason"`
	}
	checkResult struct {
		Time      time.Time `json:"time"`
		OK        bool      `json:"ok"`
		LatencyMS float64   `json:"latency_ms"`
		Status    int       `json:"status"`
		Error     string    `json:"error"`
	}
	failoverInfo struct {
		Manual []struct {
			From   string    `json:"from_region"`
			To     string    `json:"to_region"`
			Reason string    `json:"reason"`
			Since  time.Time `json:"since"`
		} `json:"manual"`
		Automatic []struct {
			Region string    `json:"region"`
			Since  time.Time `json:"since"`
			Reason string    `json:"reason"`
		} `json:"automatic"`
	}
	statusInfo struct {
		NodeID             string         `json:"node_id"`
		Version            string         `json:"version"`
		UptimeSeconds      int64          `json:"uptime_seconds"`
		Strategy           string         `json:"strategy"`
		StrategySource     string         `json:"strategy_source"`
		StrategyParameters map[string]any `json:"strategy_parameters"`
		FailoverEnabled    bool           `json:"failover_enabled"`
		Zones              []string       `json:"zones"`
		Regions            []regionInfo   `json:"regions"`
		RegionsInAnswers   int            `json:"regions_in_answers"`
		Failover           failoverInfo   `json:"failover"`
	}
)

const clientLong = `

It talks to the API of a running "geodns serve" (--api, default
http://127.0.0.1:8080, or GEODNS_API). Changes need the server's API token
(--token or GEODNS_TOKEN). --json prints the API's answer as JSON. On
failure the API's message is printed and the exit status is 1.`

func newStatusCmd() *cobra.Command {
	var o clientOptions
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the server's state: strategy, regions and their health, failovers",
		Long: `Show the state of a running server: its default strategy, every region with
its health, weight, admin state and whether it is in answers (and why not),
the failovers in effect and the zones served.` + clientLong,
		Example: "  geodns status\n  geodns status --api https://lb1.example.com:8080 --json",
		Args:    cobra.NoArgs,
		RunE: clientRun(&o, func(c *cobra.Command, a *apiClient, _ []string) error {
			var st statusInfo
			if printed, err := a.call(c.Context(), http.MethodGet, "/api/v1/lb/status", nil, &st); err != nil || printed {
				return err
			}
			w := c.OutOrStdout()
			version := ""
			if st.Version != "" {
				version = " (geodns " + st.Version + ")"
			}
			fmt.Fprintf(w, "node      %s%s, up %s\n", st.NodeID, version, time.Duration(st.UptimeSeconds)*time.Second)
			fmt.Fprintf(w, "strategy  %s (%s)%s\n", st.Strategy, map[string]string{"api": "set through the API", "config": "from the configuration"}[st.StrategySource], parameters(st.StrategyParameters))
			failover := "on: regions that fail their checks leave the answers"
			if !st.FailoverEnabled {
				failover = "off (FAILOVER_ENABLED=false): health is reported but does not change answers"
			}
			fmt.Fprintf(w, "failover  %s\n", failover)
			fmt.Fprintf(w, "zones     %s\n", strings.Join(st.Zones, " "))
			fmt.Fprintf(w, "regions   %d of %d in answers\n\n", st.RegionsInAnswers, len(st.Regions))
			regionTable(w, st.Regions)
			if len(st.Failover.Manual) > 0 {
				fmt.Fprintln(w)
				manualTable(w, st.Failover)
			}
			return nil
		}),
	}
	addClientFlags(c, &o)
	return c
}

// parameters shows strategy parameters as " with answers=2".
func parameters(p map[string]any) string {
	if len(p) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(p)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k, p[k]))
	}
	return " with " + strings.Join(parts, ", ")
}

// regionTable prints regions, one per line, with why a region is out of
// answers at the end of its line.
func regionTable(w io.Writer, regions []regionInfo) {
	tw := table(w, "REGION", "ENDPOINT", "WEIGHT", "HEALTH", "LATENCY", "LAST CHECK", "ADMIN", "IN ANSWERS")
	for _, r := range regions {
		health := r.Health.Status
		if r.Health.Stale {
			health += " (stale)"
		}
		in := "yes"
		if !r.InAnswers {
			in = "no: " + r.Reason
		}
		row(tw, r.Region, r.Endpoint, strconv.FormatFloat(r.Weight, 'g', -1, 64), health, formatMS(r.Health.LatencyMS),
			formatAgo(r.Health.LastCheck), r.AdminState, in)
	}
	tw.Flush()
}

func manualTable(w io.Writer, f failoverInfo) {
	fmt.Fprintln(w, "manual failovers:")
	tw := table(w, "FROM", "TO", "SINCE", "REASON")
	for _, m := range f.Manual {
		row(tw, m.From, m.To, formatTime(m.Since), orDash(m.Reason))
	}
	tw.Flush()
}

func newRegionsCmd() *cobra.Command {
	var o clientOptions
	c := &cobra.Command{
		Use:   "regions",
		Short: "List, add, remove, reweight and drain regions",
		Long: `List the regions of a running server and change them. Changes take effect on
the next DNS query and are kept across restarts (in --data-dir).` + clientLong,
	}
	addClientFlags(c, &o)
	c.AddCommand(newRegionsListCmd(&o), newRegionsAddCmd(&o), newRegionsRemoveCmd(&o),
		newRegionsWeightCmd(&o), newRegionsAdminCmd(&o, "drain", "force-down"), newRegionsAdminCmd(&o, "undrain", "auto"))
	return c
}

func newRegionsListCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List every region with endpoint, weight, health, latency and admin state",
		Example: "  geodns regions list\n  geodns regions list --json",
		Args:    cobra.NoArgs,
		RunE: clientRun(o, func(c *cobra.Command, a *apiClient, _ []string) error {
			var list struct {
				Regions []regionInfo `json:"regions"`
			}
			if printed, err := a.call(c.Context(), http.MethodGet, "/api/v1/lb/regions", nil, &list); err != nil || printed {
				return err
			}
			regionTable(c.OutOrStdout(), list.Regions)
			return nil
		}),
	}
}

func newRegionsAddCmd(o *clientOptions) *cobra.Command {
	var (
		spec     zones.RegionSpec
		weight   float64
		location string
		check    zones.CheckSpec
	)
	c := &cobra.Command{
		Use:   "add NAME ENDPOINT",
		Short: "Add a region",
		Long: `Add a region named NAME whose health checks (and operators) use ENDPOINT, an
http://, https:// or tcp://host:port URL. The flags are the keys of a zone
file's region and are checked the same way.

DNS answers with --address (repeatable; IPv4 and IPv6), or a CNAME to
--cname, or else with ENDPOINT's host: an IP address as A/AAAA, a host name
as a CNAME. The region joins every service that lists no regions of its
own, and the services given with --service. It is health-checked and gets
traffic as its services' strategies decide from the next query on.`,
		Example: `  geodns regions add us-west https://us-west.example.com --address 192.0.2.20 --address 2001:db8::20
  geodns regions add au-east https://au.example.com --country AU --location -33.9,151.2 --weight 2
  geodns regions add eu-central tcp://192.0.2.30:443 --service api.example.com --check-interval 10s`,
		Args: cobra.ExactArgs(2),
		RunE: clientRun(o, func(c *cobra.Command, a *apiClient, args []string) error {
			spec.Region, spec.Endpoint = args[0], args[1]
			if c.Flags().Changed("weight") {
				spec.Weight = &weight
			}
			if location != "" {
				lat, lon, ok := strings.Cut(location, ",")
				la, errLat := strconv.ParseFloat(strings.TrimSpace(lat), 64)
				lo, errLon := strconv.ParseFloat(strings.TrimSpace(lon), 64)
				if !ok || errLat != nil || errLon != nil {
					return usageError{fmt.Errorf("--location %q: want LATITUDE,LONGITUDE in degrees, like 50.1,8.7", location)}
				}
				spec.Location = &zones.LocationSpec{Latitude: &la, Longitude: &lo}
			}
			if check != (zones.CheckSpec{}) {
				spec.Check = &check
			}
			var r regionInfo
			if printed, err := a.call(c.Context(), http.MethodPost, "/api/v1/lb/regions", spec, &r); err != nil || printed {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "added region %s (%s), used by %s\n", r.Region, r.Endpoint, orDash(strings.Join(r.Services, ", ")))
			return nil
		}),
	}
	f := c.Flags()
	f.Float64Var(&weight, "weight", 1, "share for the weighted strategy, >= 0 (0 drains)")
	f.StringSliceVar(&spec.Addresses, "address", nil, "address DNS answers for the region (repeatable)")
	f.StringVar(&spec.CNAME, "cname", "", "name DNS answers with as a CNAME, instead of addresses")
	f.StringVar(&location, "location", "", "where the region is, LATITUDE,LONGITUDE in degrees, for the geo strategy")
	f.StringSliceVar(&spec.Countries, "country", nil, "country the region serves for the geo strategy, ISO code (repeatable)")
	f.StringSliceVar(&spec.Continents, "continent", nil, "continent the region serves for the geo strategy: AF AN AS EU NA OC SA (repeatable)")
	f.StringSliceVar(&spec.Services, "service", nil, "service (a load-balanced name) whose own region list the region joins (repeatable)")
	f.StringVar(&check.Kind, "check-kind", "", "check with http, https or tcp (default: the endpoint's scheme)")
	f.StringVar(&check.Path, "check-path", "", "HTTP path to check instead of the endpoint's")
	f.StringVar(&check.ExpectStatus, "check-expect-status", "", `status the check expects, "204" or "200-299" (default 200-399)`)
	f.StringVar(&check.ExpectBody, "check-expect-body", "", "text the check's response must contain")
	f.StringVar(&check.Host, "check-host", "", "HTTP Host header of the check")
	f.StringVar(&check.ServerName, "check-server-name", "", "TLS server name of the check")
	f.StringVar(&check.CAFile, "check-ca-file", "", "CA bundle (on the server) to verify the check's TLS with")
	f.StringVar(&check.Interval, "check-interval", "", `time between checks, like "10s" (default: the server's)`)
	f.StringVar(&check.Timeout, "check-timeout", "", `time a check may take, like "2s"`)
	f.IntVar(&check.Fall, "check-fall", 0, "failed checks before the region is down (default: the server's)")
	f.IntVar(&check.Rise, "check-rise", 0, "passed checks before it is up again (default 2)")
	return c
}

func newRegionsRemoveCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a region from answers and from the server",
		Long: `Remove a region, whether it came from the zone files, REGIONAL_ENDPOINTS or the
API: it leaves the answers at once and stays removed across restarts. Its
weight, admin state and manual failovers away from it go with it.`,
		Example: "  geodns regions remove us-west",
		Args:    cobra.ExactArgs(1),
		RunE: clientRun(o, func(c *cobra.Command, a *apiClient, args []string) error {
			if printed, err := a.call(c.Context(), http.MethodDelete, "/api/v1/lb/regions/"+url.PathEscape(args[0]), nil, nil); err != nil || printed {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "removed region %s\n", args[0])
			return nil
		}),
	}
}

func newRegionsWeightCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "set-weight NAME WEIGHT",
		Short:   "Set a region's weight for the weighted strategy (0 drains it from weighted choices)",
		Example: "  geodns regions set-weight eu-west 2.5",
		Args:    cobra.ExactArgs(2),
		RunE: clientRun(o, func(c *cobra.Command, a *apiClient, args []string) error {
			w, err := strconv.ParseFloat(args[1], 64)
			if err != nil {
				return usageError{fmt.Errorf("weight %q: not a number", args[1])}
			}
			var r regionInfo
			body := map[string]float64{"weight": w}
			if printed, err := a.call(c.Context(), http.MethodPut, "/api/v1/lb/regions/"+url.PathEscape(args[0])+"/weight", body, &r); err != nil || printed {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "region %s weight %s\n", r.Region, strconv.FormatFloat(r.Weight, 'g', -1, 64))
			return nil
		}),
	}
}

// newRegionsAdminCmd sets an admin state: drain (force-down) or undrain
// (auto).
func newRegionsAdminCmd(o *clientOptions, name, state string) *cobra.Command {
	short := "Take a region out of answers whatever its health (admin state force-down)"
	if state == "auto" {
		short = "Put a drained region back under its health checks (admin state auto)"
	}
	return &cobra.Command{
		Use:     name + " NAME",
		Short:   short,
		Example: "  geodns regions " + name + " eu-west",
		Args:    cobra.ExactArgs(1),
		RunE: clientRun(o, func(c *cobra.Command, a *apiClient, args []string) error {
			var r regionInfo
			body := map[string]string{"state": state}
			if printed, err := a.call(c.Context(), http.MethodPut, "/api/v1/lb/regions/"+url.PathEscape(args[0])+"/admin", body, &r); err != nil || printed {
				return err
			}
			in := "in answers"
			if !r.InAnswers {
				in = "out of answers: " + r.Reason
			}
			fmt.Fprintf(c.OutOrStdout(), "region %s admin state %s, %s\n", r.Region, r.AdminState, in)
			return nil
		}),
	}
}

func newStrategyCmd() *cobra.Command {
	var o clientOptions
	c := &cobra.Command{
		Use:   "strategy",
		Short: "Set the default strategy",
		Long: `Set the default strategy: the one services follow when their zone file names
none (--strategy, LOAD_BALANCING_STRATEGY). Services that name their own
keep it.` + clientLong,
	}
	addClientFlags(c, &o)
	var answers int
	set := &cobra.Command{
		Use:   "set NAME",
		Short: "Set the default strategy: round_robin, weighted, least_latency or geo",
		Long: `Set the default strategy to NAME: round_robin, weighted, least_latency or geo.
--answers sets how many regions one answer carries for the services that
follow the default strategy and do not set answers in their zone file.
Without --answers that count is back to the zone files' default.`,
		Example: "  geodns strategy set geo\n  geodns strategy set weighted --answers 2",
		Args:    cobra.ExactArgs(1),
		RunE: clientRun(&o, func(c *cobra.Command, a *apiClient, args []string) error {
			params := map[string]any{}
			if c.Flags().Changed("answers") {
				params["answers"] = answers
			}
			var got struct {
				Strategy   string         `json:"strategy"`
				Parameters map[string]any `json:"parameters"`
			}
			body := map[string]any{"strategy": args[0], "parameters": params}
			if printed, err := a.call(c.Context(), http.MethodPut, "/api/v1/lb/strategy", body, &got); err != nil || printed {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "default strategy %s%s\n", got.Strategy, parameters(got.Parameters))
			return nil
		}),
	}
	set.Flags().IntVar(&answers, "answers", 0, "regions per answer for the services following the default strategy")
	c.AddCommand(set)
	return c
}

func newHealthCmd() *cobra.Command {
	var o clientOptions
	c := &cobra.Command{
		Use:   "health",
		Short: "Run a health check now, or show a region's check history",
		Long:  `Run a region's health check at once, or show its recent checks.` + clientLong,
	}
	addClientFlags(c, &o)
	check := &cobra.Command{
		Use:     "check REGION",
		Short:   "Check a region now and show the result",
		Long:    "Check REGION at once; the result counts like a scheduled check (it can take the region down or up).",
		Example: "  geodns health check us-east",
		Args:    cobra.ExactArgs(1),
		RunE: clientRun(&o, func(c *cobra.Command, a *apiClient, args []string) error {
			var got struct {
				Region string      `json:"region"`
				Result checkResult `json:"result"`
				Health healthInfo  `json:"health"`
			}
			if printed, err := a.call(c.Context(), http.MethodPost, "/api/v1/lb/health/check", map[string]string{"region": args[0]}, &got); err != nil || printed {
				return err
			}
			res := got.Result
			outcome := "ok"
			if !res.OK {
				outcome = "failed: " + res.Error
			}
			fmt.Fprintf(c.OutOrStdout(), "%s: %s in %s%s; the region is %s\n", got.Region, outcome, formatMS(res.LatencyMS), httpStatus(res.Status), got.Health.Status)
			return nil
		}),
	}
	var limit int
	history := &cobra.Command{
		Use:     "history REGION",
		Short:   "Show a region's latest checks, newest first",
		Example: "  geodns health history eu-west --limit 10",
		Args:    cobra.ExactArgs(1),
		RunE: clientRun(&o, func(c *cobra.Command, a *apiClient, args []string) error {
			var got struct {
				Results []checkResult `json:"results"`
			}
			path := fmt.Sprintf("/api/v1/lb/health/history?region=%s&limit=%d", url.QueryEscape(args[0]), limit)
			if printed, err := a.call(c.Context(), http.MethodGet, path, nil, &got); err != nil || printed {
				return err
			}
			tw := table(c.OutOrStdout(), "TIME", "RESULT", "LATENCY", "STATUS", "ERROR")
			for _, r := range got.Results {
				result := "ok"
				if !r.OK {
					result = "failed"
				}
				status := "-"
				if r.Status != 0 {
					status = strconv.Itoa(r.Status)
				}
				row(tw, formatTime(r.Time), result, formatMS(r.LatencyMS), status, orDash(r.Error))
			}
			return tw.Flush()
		}),
	}
	history.Flags().IntVar(&limit, "limit", 20, "how many checks to show (at most 10000)")
	c.AddCommand(check, history)
	return c
}

func httpStatus(code int) string {
	if code == 0 {
		return ""
	}
	return fmt.Sprintf(" (HTTP %d)", code)
}

func newFailoverCmd() *cobra.Command {
	var o clientOptions
	c := &cobra.Command{
		Use:   "failover",
		Short: "Trigger, show and clear failovers",
		Long: `A manual failover sends every client that would get one region to another,
whatever the health of either, until it is cleared. Automatic failovers are
the regions out of answers because they failed their checks or were
drained.` + clientLong,
	}
	addClientFlags(c, &o)
	var reason string
	trigger := &cobra.Command{
		Use:     "trigger FROM TO",
		Short:   "Send FROM's clients to TO until cleared",
		Example: `  geodns failover trigger us-east eu-west --reason "us-east maintenance"`,
		Args:    cobra.ExactArgs(2),
		RunE: clientRun(&o, func(c *cobra.Command, a *apiClient, args []string) error {
			var got struct {
				From  string    `json:"from_region"`
				To    string    `json:"to_region"`
				Since time.Time `json:"since"`
			}
			body := map[string]string{"from_region": args[0], "to_region": args[1], "reason": reason}
			if printed, err := a.call(c.Context(), http.MethodPost, "/api/v1/lb/failover/trigger", body, &got); err != nil || printed {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "clients of %s now get %s (since %s); clear with: geodns failover clear %s\n", got.From, got.To, formatTime(got.Since), got.From)
			return nil
		}),
	}
	trigger.Flags().StringVar(&reason, "reason", "", "why, for the status and the logs")
	status := &cobra.Command{
		Use:     "status",
		Short:   "Show the manual and automatic failovers in effect",
		Example: "  geodns failover status",
		Args:    cobra.NoArgs,
		RunE: clientRun(&o, func(c *cobra.Command, a *apiClient, _ []string) error {
			var f failoverInfo
			if printed, err := a.call(c.Context(), http.MethodGet, "/api/v1/lb/failover/status", nil, &f); err != nil || printed {
				return err
			}
			w := c.OutOrStdout()
			if len(f.Manual) == 0 {
				fmt.Fprintln(w, "no manual failovers")
			} else {
				manualTable(w, f)
			}
			if len(f.Automatic) == 0 {
				fmt.Fprintln(w, "\nno regions out of answers by health checks or drains")
				return nil
			}
			fmt.Fprintln(w, "\nout of answers:")
			tw := table(w, "REGION", "SINCE", "REASON")
			for _, r := range f.Automatic {
				row(tw, r.Region, formatTime(r.Since), r.Reason)
			}
			return tw.Flush()
		}),
	}
	clearCmd := &cobra.Command{
		Use:     "clear FROM",
		Short:   "End the manual failover away from FROM",
		Example: "  geodns failover clear us-east",
		Args:    cobra.ExactArgs(1),
		RunE: clientRun(&o, func(c *cobra.Command, a *apiClient, args []string) error {
			if printed, err := a.call(c.Context(), http.MethodDelete, "/api/v1/lb/failover/"+url.PathEscape(args[0]), nil, nil); err != nil || printed {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "cleared the manual failover from %s\n", args[0])
			return nil
		}),
	}
	c.AddCommand(trigger, status, clearCmd)
	return c
}
