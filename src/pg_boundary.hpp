/*
 * The boundary between C++ and PostgreSQL error handling.
 *
 * A PostgreSQL ERROR is a longjmp: it must never cross a C++ frame that owns objects with destructors.
 * A C++ exception must never unwind through PostgreSQL frames. Everything of ours crosses the line here:
 *   - pg::call(fn) runs PostgreSQL code; an ERROR it raises comes back as a pg::PgError exception.
 *     fn must only call PostgreSQL and touch plain values: no C++ object with a destructor may be
 *     alive inside fn when it calls something that can raise.
 *   - pg::entry(fn) wraps every SQL-callable function: a C++ exception becomes an ereport(ERROR).
 *   - pg::raise(...) raises an ERROR from C++: it comes back as a pg::PgError, unwinds our frames and
 *     is reported again by pg::entry (or caught on the way, like any PgError).
 * FATAL (SIGTERM via die()) is not caught: it ends the process, which is what we want.
 */
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
}

namespace cachepusher::pg {

class PgError : public std::runtime_error {
public:
	explicit PgError(ErrorData *edata);
	int sqlerrcode() const { return sqlerrcode_; }
	const std::string &detail() const { return detail_; }
	/* The original error, valid until the memory context it was caught in is reset. */
	ErrorData *edata() const { return edata_; }

private:
	int sqlerrcode_;
	std::string detail_;
	ErrorData *edata_;
};

namespace detail {
/* Runs thunk(arg) under PG_TRY; a PostgreSQL ERROR becomes PgError, a C++ exception passes through. */
void runGuarded(void (*thunk)(void *), void *arg);

/*
 * What pg::entry keeps of a C++ exception once its catch block is left: plain values only, so that
 * nothing with a destructor (the exception, a std::string, an exception_ptr) is alive when ereport
 * longjmps out of the entry's frame.
 */
struct CaughtError {
	ErrorData *pgError; /* a PgError's ErrorData, palloc'd in the context it was caught in */
	bool outOfMemory;
	char message[1024]; /* what() of any other exception, cut to fit */
};
/* Call inside a catch block only: copies the exception being handled into error. */
void capture(CaughtError &error) noexcept;
[[noreturn]] void report(const CaughtError &error);
/* The captured error's message, for a log line. */
const char *describe(const CaughtError &error) noexcept;
} // namespace detail

template <typename Fn>
auto call(Fn &&fn) -> decltype(fn())
{
	using Result = decltype(fn());
	struct Frame {
		Fn *fn;
		std::conditional_t<std::is_void_v<Result>, int, Result> result{};
		std::exception_ptr cppError;
	} frame{&fn};
	/* C++ exceptions are caught inside the guarded region so they never unwind through PG_TRY. */
	detail::runGuarded(
		[](void *p) {
			auto *f = static_cast<Frame *>(p);
			try {
				if constexpr (std::is_void_v<Result>)
					(*f->fn)();
				else
					f->result = (*f->fn)();
			} catch (...) {
				f->cppError = std::current_exception();
			}
		},
		&frame);
	if (frame.cppError)
		std::rethrow_exception(frame.cppError);
	if constexpr (!std::is_void_v<Result>)
		return frame.result;
}

/* CHECK_FOR_INTERRUPTS through the boundary: SIGTERM ends the process, a cancel becomes PgError. */
void checkInterrupts();

/*
 * Raises an ERROR with this SQLSTATE (ERRCODE_...), message and, when not empty, detail and hint. It
 * arrives as a PgError carrying the ErrorData, so callers that catch PgError see it like any error
 * PostgreSQL raised, and pg::entry reports it with every field intact.
 */
[[noreturn]] void raise(int sqlerrcode, const std::string &message, const std::string &detail = {},
						const std::string &hint = {});

/*
 * Body of every SQL-callable function: C++ exceptions become ereport(ERROR) once no C++ object of
 * ours is left alive: the catch block copies what is to be reported into plain memory and ends (the
 * exception dies there), and only then is the error reported.
 */
template <typename Fn>
Datum entry(Fn &&fn)
{
	detail::CaughtError error;
	bool failed = false;
	Datum result = (Datum) 0;
	try {
		result = fn();
	} catch (...) {
		detail::capture(error);
		failed = true;
	}
	if (failed)
		detail::report(error);
	return result;
}

namespace detail {
/* A GUC nest level when in a transaction (0 outside one), and its undoing. */
int beginSettingsScope();
void endSettingsScope(int level);
} // namespace detail

/*
 * Runs fn as role (a source's SQL runs as its owner) the way PostgreSQL runs a table owner's code in
 * VACUUM or REFRESH MATERIALIZED VIEW: as a security-restricted operation (no temporary objects, no
 * SET ROLE, no LISTEN, UNLISTEN or CLOSE, no cursor WITH HOLD of its own), and with every setting it
 * changes undone when fn returns. The worker runs the SQL of many owners in one session: without
 * this, one owner could plant a search_path or a temporary table that another owner's unqualified
 * names then resolve to, or unlisten the worker's channels. The previous user is restored even when
 * fn throws. Settings are undone only when fn starts and ends in one transaction; a fn that commits
 * its own transaction calls resetSessionSettings() (transaction.hpp) after it.
 */
template <typename Fn>
void asRole(Oid role, Fn &&fn)
{
	Oid savedUser;
	int savedContext;
	GetUserIdAndSecContext(&savedUser, &savedContext);
	SetUserIdAndSecContext(role, savedContext | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	int settingsLevel = detail::beginSettingsScope();
	try {
		fn();
	} catch (...) {
		detail::endSettingsScope(settingsLevel);
		SetUserIdAndSecContext(savedUser, savedContext);
		throw;
	}
	detail::endSettingsScope(settingsLevel);
	SetUserIdAndSecContext(savedUser, savedContext);
}

} // namespace cachepusher::pg
