// Package contract holds the tests that check the server against its
// published documents: the OpenAPI document of the REST API and the JSON
// Schemas of the WebSocket protocol (docs/schemas). They live in the e2e
// module so that their validators are no dependency of ticketstream.
package contract
