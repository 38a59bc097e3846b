#include "pg_boundary.hpp"

extern "C" {
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

namespace cachepusher::pg {

PgError::PgError(ErrorData *edata)
	: std::runtime_error(edata->message ? edata->message : "unknown PostgreSQL error"),
	  sqlerrcode_(edata->sqlerrcode),
	  detail_(edata->detail ? edata->detail : ""),
	  edata_(edata)
{
}

void detail::runGuarded(void (*thunk)(void *), void *arg)
{
	MemoryContext callerContext = CurrentMemoryContext;
	ErrorData *volatile caught = nullptr;

	PG_TRY();
	{
		thunk(arg);
	}
	PG_CATCH();
	{
		/* CopyErrorData must not run in ErrorContext; copy into the caller's context. */
		MemoryContextSwitchTo(callerContext);
		caught = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();

	if (caught)
		throw PgError(caught);
}

void checkInterrupts()
{
	call([] { CHECK_FOR_INTERRUPTS(); });
}

int detail::beginSettingsScope()
{
	return IsTransactionState() ? call([] { return NewGUCNestLevel(); }) : 0;
}

void detail::endSettingsScope(int level)
{
	/* Like a function's SET clause at its end: settings made since the level began are undone. */
	if (level > 0 && IsTransactionState())
		call([level] { AtEOXact_GUC(false, level); });
}

void raise(int sqlerrcode, const std::string &message, const std::string &detail, const std::string &hint)
{
	/* Raised inside the boundary, so the ERROR becomes a PgError; the strings live in this frame, above it. */
	call([&] {
		ereport(ERROR, (errcode(sqlerrcode), errmsg("%s", message.c_str()),
						detail.empty() ? 0 : errdetail("%s", detail.c_str()),
						hint.empty() ? 0 : errhint("%s", hint.c_str())));
	});
	pg_unreachable();
}

void detail::capture(CaughtError &error) noexcept
{
	error.pgError = nullptr;
	error.outOfMemory = false;
	strlcpy(error.message, "unknown C++ exception", sizeof(error.message));
	/* Rethrown and caught here to learn its type; it stays the exception of the caller's catch block. */
	try {
		throw;
	} catch (const PgError &e) {
		error.pgError = e.edata();
	} catch (const std::bad_alloc &) {
		error.outOfMemory = true;
	} catch (const std::exception &e) {
		strlcpy(error.message, e.what(), sizeof(error.message));
	} catch (...) {
	}
}

const char *detail::describe(const CaughtError &error) noexcept
{
	if (error.pgError)
		return error.pgError->message ? error.pgError->message : "an error without a message";
	return error.outOfMemory ? "out of memory" : error.message;
}

void detail::report(const CaughtError &error)
{
	if (error.pgError)
		ReThrowError(error.pgError);
	if (error.outOfMemory)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("cachepusher: %s", error.message)));
	pg_unreachable();
}

} // namespace cachepusher::pg
