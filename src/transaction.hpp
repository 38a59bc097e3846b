/*
 * Transactions for the worker, built on the error boundary. Every unit of work on data runs in its own
 * short transaction with a fresh snapshot (docs/design.md §1: a key is always re-read after its notification
 * was drained), and SPI connected.
 */
#pragma once

#include "pg_boundary.hpp"
#include "pg_compat.hpp"

namespace cachepusher::pg {

void startTransaction(const char *activity);
/*
 * RESET ALL, outside a transaction: undoes session settings that a source's SQL made at a commit
 * (pg::asRole undoes them itself within a transaction). The worker sets none of its own.
 */
void resetSessionSettings();

/*
 * Runs body with the settings that decide how values print and which tables unqualified names are
 * (search_path, TimeZone, DateStyle, IntervalStyle, extra_float_digits, bytea_output, lc_monetary)
 * as the session began with them (postgresql.conf, ALTER DATABASE / ROLE ... SET), as a function's SET
 * clause would, undone after. For a backend that runs sources' SQL as the worker does (verify()): a
 * SET in the caller's session would otherwise spell keys and documents otherwise than the worker.
 */
int beginSessionDefaults();
template <typename Fn> void withSessionDefaults(Fn &&body)
{
	int level = beginSessionDefaults();
	try {
		body();
	} catch (...) {
		detail::endSettingsScope(level);
		throw;
	}
	detail::endSettingsScope(level);
}
void commitTransaction();
void abortTransaction();

/* Runs body in a transaction with SPI and a snapshot; commits, or aborts and rethrows. */
template <typename Fn>
void inTransaction(const char *activity, Fn &&body)
{
	startTransaction(activity);
	try {
		body();
	} catch (...) {
		abortTransaction();
		throw;
	}
	try {
		commitTransaction();
	} catch (...) {
		abortTransaction();
		throw;
	}
}

/*
 * Runs body with cachepusher.statement_timeout armed (SPI queries get no statement timeout of their
 * own): when it passes, the running query fails with "canceling statement due to statement timeout".
 */
void armStatementTimeout();
void disarmStatementTimeout();
template <typename Fn>
void withStatementTimeout(Fn &&body)
{
	armStatementTimeout();
	try {
		body();
	} catch (...) {
		disarmStatementTimeout();
		throw;
	}
	disarmStatementTimeout();
}

void beginSubtransaction();
void commitSubtransaction();
void rollbackSubtransaction();

/*
 * Runs body in a subtransaction of the current transaction. Returns true when it succeeded; when it
 * raised a PostgreSQL error, rolls the subtransaction back, stores the message (and its SQLSTATE, when
 * asked) and returns false, so one bad key does not abort the batch for the others. Other exceptions
 * propagate, and so does a cancel outside the worker: a user cancelling verify() means all of it.
 */
template <typename Fn>
bool trySubtransaction(Fn &&body, std::string *errorMessage, int *sqlerrcode = nullptr)
{
	beginSubtransaction();
	try {
		body();
	} catch (const PgError &e) {
		if (e.sqlerrcode() == ERRCODE_QUERY_CANCELED && !amBackgroundWorker()) {
			rollbackSubtransaction();
			throw;
		}
		*errorMessage = e.what();
		if (sqlerrcode != nullptr)
			*sqlerrcode = e.sqlerrcode();
		rollbackSubtransaction();
		return false;
	} catch (...) {
		rollbackSubtransaction();
		throw;
	}
	commitSubtransaction();
	return true;
}

} // namespace cachepusher::pg
