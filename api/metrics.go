package api

import (
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// unmatchedRoute labels calls that matched no route, so that made-up
// URLs cannot grow the label set.
const unmatchedRoute = "unmatched"

// apiMetrics counts API calls by method, route template and status code.
type apiMetrics struct {
	requests *prometheus.CounterVec
	routes   map[string]bool // method + " " + route template
}

// newAPIMetrics registers the API's counters in reg.
func newAPIMetrics(reg prometheus.Registerer) *apiMetrics {
	m := &apiMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "geodns_api_requests_total",
			Help: "REST API requests by method, route template and HTTP status code.",
		}, []string{"method", "route", "code"}),
		routes: map[string]bool{},
	}
	reg.MustRegister(m.requests)
	return m
}

// countRequests is the middleware that counts calls once their status is
// final (it runs outside requestLog, which answers errors).
func (s *Server) countRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		method, route := c.Request().Method, c.Path()
		if !s.metrics.routes[method+" "+route] {
			route = unmatchedRoute
		}
		s.metrics.requests.WithLabelValues(method, route, strconv.Itoa(c.Response().Status)).Inc()
		return err
	}
}

// metricsHandler serves opts.Metrics (or the API's own counters) in the
// Prometheus text format.
func (s *Server) metricsHandler(g prometheus.Gatherer) echo.HandlerFunc {
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return echo.WrapHandler(h)
}
