package restapi

import (
	_ "embed"

	"github.com/labstack/echo/v4"
)

// OpenAPI is the OpenAPI 3.1 document of the REST API, served at
// GET /v1/openapi.json. Tests check the server's real answers against it.
//
//go:embed openapi/openapi.json
var OpenAPI []byte

// openAPI serves OpenAPI. It needs no token: it describes the API, not
// its tickets.
func (s *Server) openAPI(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-cache")
	return s.blob(c, "application/json", OpenAPI)
}
