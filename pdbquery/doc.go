// Package pdbquery answers PuppetDB's v4 queries over what package exported
// stores: the entities nodes, facts, fact-names, environments, resources,
// catalogs, edges, reports and events, the query AST (=, ~, <, <=, >, >=, null?,
// in with arrays and subqueries, and, or, not, implicit subqueries), projections
// with extract, count, avg, sum, min, max and group_by, and the paging of the
// root query and of the entity endpoints (order_by, limit, offset, include_total).
// PQL strings are translated into the same AST by package pql.
package pdbquery
