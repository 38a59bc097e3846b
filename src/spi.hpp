/*
 * SPI from C++: every call goes through the error boundary, and results are copied out of PostgreSQL
 * memory into std::string before anything else happens. Call inside pg::inTransaction.
 */
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pg_boundary.hpp"

extern "C" {
#include "postgres.h"
#include "executor/spi.h"
}

namespace cachepusher::spi {

/* Opens an SPI connection (an ERROR when it cannot), and closes the current one. */
void connect();
void finish();

/* Runs a query without parameters; returns the number of rows. */
uint64 execute(const char *sql);
/* Runs a query with text parameters ($1, $2 ... as text; NULL for std::nullopt). */
uint64 execute(const char *sql, const std::vector<std::optional<std::string>> &args);
/* Runs a saved plan whose only parameter is a text[] holding keys. */
uint64 executeWithKeys(SPIPlanPtr plan, const std::vector<std::string> &keys);
/* Runs a saved plan whose parameters are text[], one for each array ($1, $2 ...). */
uint64 executeWithArrays(SPIPlanPtr plan, const std::vector<std::vector<std::string>> &arrays);

/* Column col (1-based) of row of the last result, as text; nullopt for NULL. */
std::optional<std::string> value(uint64 row, int col);
std::string valueOr(uint64 row, int col, const std::string &fallback);
int columns();

/* Prepares and keeps a plan with one text[] parameter. */
SPIPlanPtr prepareWithKeys(const std::string &sql);
/* Prepares and keeps a plan with count text[] parameters. */
SPIPlanPtr prepareWithArrays(const std::string &sql, size_t count);
/*
 * How a kept plan is planned when it runs: PostgreSQL's choice (plan_cache_mode: custom plans for
 * the first runs, then the generic plan if it costs no more than they did on average), or the generic
 * plan always (planned once, however small the arrays it is run with).
 */
enum class Planning { PostgresChoice, Generic };
/* Prepares and keeps a plan with one parameter of the given type, or one of each type. */
SPIPlanPtr prepareWithArgument(const std::string &sql, Oid argType);
SPIPlanPtr prepareWithArguments(const std::string &sql, const std::vector<Oid> &argTypes,
								Planning planning = Planning::PostgresChoice);
void freePlan(SPIPlanPtr plan);

/* What a query is, found by parsing it as the current user without running it. */
struct QueryShape {
	int statements = 0;
	bool returnsRows = false;
	/* A SELECT that neither writes (in WITH) nor locks rows. */
	bool onlyReads = false;
	std::vector<Oid> columnTypes;
	/* $1, $2 ... typed by their use in the query; UNKNOWNOID where the use does not tell. */
	std::vector<Oid> parameterTypes;
};
QueryShape describeQuery(const std::string &sql);

} // namespace cachepusher::spi

namespace cachepusher::spi {

/*
 * A read-only SCROLL cursor WITH HOLD over query: materialized at commit, read across transactions.
 * Scrollable so countRows() can tell its size (moving through the materialized rows is cheap).
 */
void declareHeldCursor(const std::string &name, const std::string &query);
/* How many rows the named scrollable cursor holds; leaves it at its start. */
uint64 countRows(const std::string &name);
/* A read-only NO SCROLL cursor over query, read within the current transaction. */
void declareCursor(const std::string &name, const std::string &query);
/* FETCH up to count rows from the named cursor into the last result; returns the number of rows. */
uint64 fetchFromCursor(const std::string &name, int count);
/* Closes the named cursor if it is open. */
void closeCursor(const std::string &name);

/*
 * Runs fn in an SPI connection of its own, so that what its queries return (tuple tables, the strings
 * read from them) is freed when it returns: a loop of batches under one connection would keep every
 * batch's until its end. Cursors, kept plans and the caller's connection are left as they are. When
 * fn throws, the connection is left to the transaction's abort, which ends every one.
 */
template <typename Fn> void inOwnConnection(Fn &&fn)
{
	connect();
	fn();
	finish();
}

} // namespace cachepusher::spi
