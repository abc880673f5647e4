package api

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// The status page: plain HTML, CSS and JavaScript compiled into the
// binary, which read the API from the browser (see status/status.js).
var (
	//go:embed status/index.html
	statusHTML []byte
	//go:embed status/status.js
	statusJS []byte
	//go:embed status/status.css
	statusCSS []byte
)

// pageAsset is one file of the status page.
type pageAsset struct {
	name        string
	contentType string
	data        []byte
	etag        string
}

// statusAssets are the status page's files by URL path.
var statusAssets = map[string]*pageAsset{
	"/":                  newPageAsset("index.html", "text/html; charset=utf-8", statusHTML),
	"/status/status.js":  newPageAsset("status.js", "text/javascript; charset=utf-8", statusJS),
	"/status/status.css": newPageAsset("status.css", "text/css; charset=utf-8", statusCSS),
}

func newPageAsset(name, contentType string, data []byte) *pageAsset {
	sum := sha256.Sum256(data)
	return &pageAsset{name: name, contentType: contentType, data: data, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// pageCSP confines the page to its own files and the API: no inline
// script or style, nothing from other origins, no framing.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// statusRoutes registers the status page and GET /api/v1/stats, which the
// page reads to show queries per second.
func (s *Server) statusRoutes() {
	for path, a := range statusAssets {
		s.echo.GET(path, a.serve)
	}
	s.echo.GET("/api/v1/stats", s.stats)
}

// isStatusPage reports reads of the page's files, which need no token:
// they hold no state, and the page asks for the token itself when the
// API's reads need one (--api-auth-all).
func isStatusPage(c echo.Context) bool {
	_, ok := statusAssets[c.Request().URL.Path]
	return ok && !mutating(c)
}

func (a *pageAsset) serve(c echo.Context) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, a.contentType)
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// Revalidated on every load, so a new binary's page is never mixed
	// with an old script.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	http.ServeContent(c.Response(), c.Request(), a.name, time.Time{}, bytes.NewReader(a.data))
	return nil
}

// statsView is the answer of GET /api/v1/stats.
type statsView struct {
	// QueriesTotal counts the DNS queries handled since the server
	// started; two readings and their times give queries per second.
	QueriesTotal uint64    `json:"queries_total"`
	Time         time.Time `json:"time"`
}

func (s *Server) stats(c echo.Context) error {
	if s.opts.Queries == nil {
		return &apiError{Status: http.StatusServiceUnavailable, Msg: "the DNS query count is not available: DNS is not served by this process"}
	}
	return c.JSON(http.StatusOK, statsView{QueriesTotal: s.opts.Queries(), Time: time.Now().UTC()})
}
