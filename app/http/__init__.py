"""The REST API: endpoint declarations, bodies and errors, OpenAPI, pages and report rendering."""
