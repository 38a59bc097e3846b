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

void detail::reportCppError(const std::exception_ptr &error)
{
	/*
	 * Extract what we need while the exception is alive, then leave every catch block before ereport
	 * longjmps: jumping out of a catch block would leave the C++ runtime's exception state behind.
	 */
	ErrorData *edata = nullptr;
	bool outOfMemory = false;
	char message[1024] = "unknown C++ exception";
	try {
		std::rethrow_exception(error);
	} catch (const PgError &e) {
		edata = e.edata();
	} catch (const std::bad_alloc &) {
		outOfMemory = true;
	} catch (const std::exception &e) {
		strlcpy(message, e.what(), sizeof(message));
	} catch (...) {
	}

	if (edata)
		ReThrowError(edata);
	if (outOfMemory)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("cachepusher: %s", message)));
	pg_unreachable();
}

} // namespace cachepusher::pg
