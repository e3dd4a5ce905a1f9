package api

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the API's OpenAPI 3.1 description, written by hand.
// TestOpenAPIMatchesRouter checks that it lists exactly the router's
// routes.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPIDocument returns the OpenAPI document.
func OpenAPIDocument() []byte { return openAPIDocument }

// handleOpenAPI serves the OpenAPI document.
func handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
}
