// Package depcheck holds only a test: it keeps framework, Redis and SQL
// driver dependencies out of the packages every user imports.
package depcheck
