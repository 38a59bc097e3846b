/*
 * A set-based source's documents query (add_source(..., documents_query)): one SELECT whose only
 * parameter, $1, is an array of keys of the key type, returning (key, document) rows; a key with no
 * row names a document that is gone. A key of N columns: $1 .. $N, one array per column (the i-th
 * elements together are one key), and rows (key column 1 .. N, document). Checked when the source is added and whenever the worker loads
 * it; run for a batch of keys by the document fetcher.
 */
#pragma once

#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
#include "executor/spi.h"
}

namespace cachepusher::documents_query {

struct Shape {
	/* Of each key column: the element type of its array ($1, $2 ...), named for casts ("public.sku"). */
	std::vector<Oid> keyTypes;
	std::vector<std::string> keyTypeNames;
	bool textDocuments = false; /* the document column is text, so each document is checked to be JSON */
	/* Why the query cannot serve as a documents query, in words for its author; empty when it can. */
	std::string problem;
	std::string detail;
};

/*
 * A key type as SQL we build casts to it: qualified, and without the length SQL implies when none is
 * given ("pg_catalog.bpchar", not "character", which is character(1) and would cut 'US' to 'U').
 */
std::string castTypeName(Oid type);

/* Parses the query as the current user without running it. Throws PgError when it does not parse. */
Shape describe(const std::string &query);

/*
 * Runs a plan of the query (prepared with the key array types) for keys, read-only: each key's
 * components (composite_key.hpp) go into the arrays, one per column, and a component that does not
 * cast to its type raises. The rows are in SPI_tuptable. printed[i] is keys[i] with each component
 * cast to its type and printed again, as the key query prints its keys and the query's key columns
 * come back ("042" is cast to 42, which prints as "42").
 */
uint64 run(SPIPlanPtr plan, const std::vector<Oid> &keyTypes, const std::vector<std::string> &keys,
		   std::vector<std::string> &printed);

/* Raises "invalid input syntax for type json" (as a PgError) unless document is JSON. */
void checkJson(const char *document);

} // namespace cachepusher::documents_query
