package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/miekg/dns"
	"github.com/rs/zerolog"

	"github.com/geodns/geodns/balancer"
	"github.com/geodns/geodns/health"
	"github.com/geodns/geodns/zones"
)

// routes registers every route; api/openapi.yaml documents each of them
// (TestOpenAPIMatchesRoutes keeps the two in step).
func (s *Server) routes() {
	e := s.echo
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metricsHandler(s.opts.Metrics))
	v1 := e.Group("/api/v1")
	v1.GET("/openapi.yaml", s.openAPI)
	lb := v1.Group("/lb")
	lb.GET("/status", s.status)
	lb.PUT("/strategy", s.setStrategy)
	lb.GET("/regions", s.listRegions)
	lb.POST("/regions", s.addRegion)
	lb.GET("/regions/:region", s.showRegion)
	lb.DELETE("/regions/:region", s.removeRegion)
	lb.PUT("/regions/:region/weight", s.setWeight)
	lb.PUT("/regions/:region/admin", s.setAdmin)
	lb.POST("/health/check", s.checkNow)
	lb.GET("/health/history", s.history)
	lb.POST("/failover/trigger", s.triggerFailover)
	lb.GET("/failover/status", s.failoverStatus)
	lb.DELETE("/failover/:from_region", s.clearFailover)
	lb.GET("/zones", s.listZones)
	lb.GET("/zones/:zone", s.showZone)
}

// changed starts the log line of a change, naming the client.
func (s *Server) changed(c echo.Context) *zerolog.Event {
	return s.opts.Log.Info().Str("client", c.RealIP())
}

func badRequest(field, format string, args ...any) error {
	return &apiError{Status: http.StatusBadRequest, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	if s.opts.Ready != nil && !s.opts.Ready() {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", openAPI)
}

// statusView is the answer of GET /api/v1/lb/status.
type statusView struct {
	NodeID        string    `json:"node_id"`
	Version       string    `json:"version,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	// Strategy is the default strategy, followed by the services that
	// name none; StrategySource says whether it comes from the server's
	// configuration (--strategy, LOAD_BALANCING_STRATEGY) or the API.
	Strategy           string         `json:"strategy"`
	StrategySource     string         `json:"strategy_source"`
	StrategyParameters map[string]any `json:"strategy_parameters"`
	// FailoverEnabled is FAILOVER_ENABLED: whether regions that fail their
	// checks leave the answers.
	FailoverEnabled  bool         `json:"failover_enabled"`
	Zones            []string     `json:"zones"`
	Regions          []regionView `json:"regions"`
	RegionsInAnswers int          `json:"regions_in_answers"`
	Failover         failoverView `json:"failover"`
}

// failoverView lists the failovers in effect.
type failoverView struct {
	Manual    []balancer.ManualFailover `json:"manual"`
	Automatic []automaticView           `json:"automatic"`
}

type automaticView struct {
	Region string     `json:"region"`
	Since  *time.Time `json:"since,omitempty"`
	Reason string     `json:"reason"`
}

func (s *Server) failovers() failoverView {
	manual, auto := s.opts.Control.FailoverStatus()
	fv := failoverView{Manual: manual, Automatic: make([]automaticView, 0, len(auto))}
	for _, a := range auto {
		fv.Automatic = append(fv.Automatic, automaticView{Region: a.Region, Since: timePtr(a.Since), Reason: a.Reason})
	}
	return fv
}

func (s *Server) status(c echo.Context) error {
	v := s.views()
	rt := s.opts.Control.Runtime()
	st := statusView{
		NodeID: s.opts.NodeID, Version: s.opts.Version, StartedAt: s.opts.Started.UTC(),
		UptimeSeconds: int64(time.Since(s.opts.Started).Seconds()),
		Strategy:      string(v.snap.DefaultStrategy), StrategySource: "config", StrategyParameters: rt.StrategyParameters,
		FailoverEnabled: !v.snap.IgnoreHealth, Zones: []string{}, Regions: v.regions(), Failover: s.failovers(),
	}
	if st.NodeID == "" {
		st.NodeID = v.snap.NodeID
	}
	if rt.Strategy != "" {
		st.StrategySource = "api"
	}
	if st.StrategyParameters == nil {
		st.StrategyParameters = map[string]any{}
	}
	for _, z := range v.snap.Zones.Zones {
		st.Zones = append(st.Zones, z.Origin)
	}
	for _, r := range st.Regions {
		if r.InAnswers {
			st.RegionsInAnswers++
		}
	}
	return c.JSON(http.StatusOK, st)
}

// strategyRequest is the body of PUT /api/v1/lb/strategy.
type strategyRequest struct {
	Strategy   string         `json:"strategy"`
	Parameters map[string]any `json:"parameters"`
}

func (s *Server) setStrategy(c echo.Context) error {
	var req strategyRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Strategy == "" {
		return badRequest("strategy", "required")
	}
	if err := s.opts.Control.SetStrategy(req.Strategy, req.Parameters); err != nil {
		return err
	}
	rt := s.opts.Control.Runtime()
	s.changed(c).Str("strategy", rt.Strategy).Interface("parameters", rt.StrategyParameters).Msg("default strategy set")
	params := rt.StrategyParameters
	if params == nil {
		params = map[string]any{}
	}
	return c.JSON(http.StatusOK, strategyRequest{Strategy: rt.Strategy, Parameters: params})
}

func (s *Server) listRegions(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]any{"regions": s.views().regions()})
}

// regionAnswer answers with a region's view, or 404.
func (s *Server) regionAnswer(c echo.Context, status int, name string) error {
	v := s.views()
	r := v.snap.Zones.Region(name)
	if r == nil {
		return &apiError{Status: http.StatusNotFound, Field: "region", Msg: fmt.Sprintf("unknown region %q", name)}
	}
	return c.JSON(status, v.region(r))
}

func (s *Server) showRegion(c echo.Context) error {
	return s.regionAnswer(c, http.StatusOK, c.Param("region"))
}

func (s *Server) addRegion(c echo.Context) error {
	var spec zones.RegionSpec
	if err := decode(c, &spec); err != nil {
		return err
	}
	r, err := s.opts.Control.AddRegion(spec)
	if err != nil {
		return err
	}
	s.changed(c).Str("region", r.Name).Str("endpoint", r.Endpoint).Float64("weight", r.Weight).
		Strs("services", spec.Services).Msg("region added")
	c.Response().Header().Set(echo.HeaderLocation, "/api/v1/lb/regions/"+r.Name)
	return s.regionAnswer(c, http.StatusCreated, r.Name)
}

func (s *Server) removeRegion(c echo.Context) error {
	name := c.Param("region")
	if err := s.opts.Control.RemoveRegion(name); err != nil {
		return err
	}
	s.changed(c).Str("region", name).Msg("region removed")
	return c.JSON(http.StatusOK, map[string]any{"region": name, "removed": true})
}

// weightRequest is the body of PUT /api/v1/lb/regions/{region}/weight.
type weightRequest struct {
	Weight *float64 `json:"weight"`
}

func (s *Server) setWeight(c echo.Context) error {
	name := c.Param("region")
	var req weightRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Weight == nil {
		return badRequest("weight", "required")
	}
	old := 0.0
	if r := s.opts.Store.Load().Zones.Region(name); r != nil {
		old = r.Weight
	}
	if err := s.opts.Control.SetWeight(name, *req.Weight); err != nil {
		return err
	}
	s.changed(c).Str("region", name).Float64("old_weight", old).Float64("weight", *req.Weight).Msg("region weight set")
	return s.regionAnswer(c, http.StatusOK, name)
}

// adminRequest is the body of PUT /api/v1/lb/regions/{region}/admin.
type adminRequest struct {
	State *string `json:"state"`
}

func (s *Server) setAdmin(c echo.Context) error {
	name := c.Param("region")
	var req adminRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.State == nil {
		return badRequest("state", "required (auto, force-up or force-down)")
	}
	st, err := zones.ParseAdminState(*req.State)
	if err != nil || *req.State == "" {
		return badRequest("state", "unknown admin state %q (want auto, force-up or force-down)", *req.State)
	}
	if err := s.opts.Control.SetAdmin(name, st); err != nil {
		return err
	}
	shown := string(st)
	if st == balancer.AdminAuto {
		shown = "auto"
	}
	s.changed(c).Str("region", name).Str("admin_state", shown).Msg("region admin state set")
	return s.regionAnswer(c, http.StatusOK, name)
}

// regionRequest is the body of POST /api/v1/lb/health/check.
type regionRequest struct {
	Region string `json:"region"`
}

// checkAnswer is the answer of POST /api/v1/lb/health/check.
type checkAnswer struct {
	Region string     `json:"region"`
	Result resultView `json:"result"`
	Health healthView `json:"health"`
}

func (s *Server) checkNow(c echo.Context) error {
	var req regionRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := s.knownRegion(req.Region); err != nil {
		return err
	}
	if s.opts.Health == nil {
		return &apiError{Status: http.StatusServiceUnavailable, Msg: "health checks are not running"}
	}
	res, err := s.opts.Health.CheckNow(c.Request().Context(), req.Region)
	switch {
	case errors.Is(err, health.ErrUnknownRegion):
		return &apiError{Status: http.StatusNotFound, Field: "region", Msg: fmt.Sprintf("region %q is not checked (yet)", req.Region)}
	case err != nil:
		return &apiError{Status: http.StatusServiceUnavailable, Msg: "the check did not complete: " + err.Error()}
	}
	s.changed(c).Str("region", req.Region).Bool("ok", res.OK).Str("error", res.Error).Msg("health check run on request")
	return c.JSON(http.StatusOK, checkAnswer{Region: req.Region, Result: newResultView(res), Health: s.views().health(req.Region)})
}

// knownRegion requires name to be a region in force.
func (s *Server) knownRegion(name string) error {
	switch {
	case name == "":
		return badRequest("region", "required")
	case s.opts.Store.Load().Zones.Region(name) == nil:
		return &apiError{Status: http.StatusNotFound, Field: "region", Msg: fmt.Sprintf("unknown region %q", name)}
	}
	return nil
}

// historyAnswer is the answer of GET /api/v1/lb/health/history.
type historyAnswer struct {
	Region  string       `json:"region"`
	Results []resultView `json:"results"`
}

func (s *Server) history(c echo.Context) error {
	name := c.QueryParam("region")
	limit := health.DefaultHistorySize
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxHistory {
			return badRequest("limit", "must be an integer from 1 to %d, not %q", maxHistory, v)
		}
		limit = n
	}
	if err := s.knownRegion(name); err != nil {
		return err
	}
	if s.opts.Health == nil {
		return &apiError{Status: http.StatusServiceUnavailable, Msg: "health checks are not running"}
	}
	results, ok := s.opts.Health.History(name, limit)
	if !ok {
		return &apiError{Status: http.StatusNotFound, Field: "region", Msg: fmt.Sprintf("region %q is not checked (yet)", name)}
	}
	out := historyAnswer{Region: name, Results: make([]resultView, 0, len(results))}
	for _, r := range results {
		out.Results = append(out.Results, newResultView(r))
	}
	return c.JSON(http.StatusOK, out)
}

// failoverRequest is the body of POST /api/v1/lb/failover/trigger.
type failoverRequest struct {
	From   string `json:"from_region"`
	To     string `json:"to_region"`
	Reason string `json:"reason"`
}

func (s *Server) triggerFailover(c echo.Context) error {
	var req failoverRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if len(req.Reason) > maxReason {
		return badRequest("reason", "at most %d bytes", maxReason)
	}
	f, err := s.opts.Control.TriggerFailover(req.From, req.To, req.Reason)
	if err != nil {
		return err
	}
	s.changed(c).Str("from_region", f.From).Str("to_region", f.To).Str("reason", f.Reason).Msg("manual failover triggered")
	return c.JSON(http.StatusOK, f)
}

func (s *Server) failoverStatus(c echo.Context) error {
	return c.JSON(http.StatusOK, s.failovers())
}

func (s *Server) clearFailover(c echo.Context) error {
	from := c.Param("from_region")
	if err := s.opts.Control.ClearFailover(from); err != nil {
		return err
	}
	s.changed(c).Str("from_region", from).Msg("manual failover cleared")
	return c.JSON(http.StatusOK, map[string]any{"from_region": from, "cleared": true})
}

func (s *Server) listZones(c echo.Context) error {
	snap := s.opts.Store.Load()
	out := make([]zoneSummary, 0, len(snap.Zones.Zones))
	for _, z := range snap.Zones.Zones {
		out = append(out, summarize(z))
	}
	return c.JSON(http.StatusOK, map[string]any{"zones": out})
}

func (s *Server) showZone(c echo.Context) error {
	snap := s.opts.Store.Load()
	origin := dns.CanonicalName(c.Param("zone"))
	for _, z := range snap.Zones.Zones {
		if z.Origin == origin {
			return c.JSON(http.StatusOK, zoneDetail(snap, z))
		}
	}
	return &apiError{Status: http.StatusNotFound, Field: "zone", Msg: fmt.Sprintf("zone %s is not served", origin)}
}
