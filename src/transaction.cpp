#include "transaction.hpp"

#include "pg_compat.hpp"
#include "settings.hpp"

extern "C" {
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
}

namespace cachepusher::pg {

void startTransaction(const char *activity)
{
	call([activity] {
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, activity);
	});
}

void commitTransaction()
{
	call([] {
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
	});
}

void resetSessionSettings()
{
	call([] { ResetAllOptions(); });
}

int beginSessionDefaults()
{
	int level = detail::beginSettingsScope();
	call([] {
		for (const char *name : {"search_path", "TimeZone", "DateStyle", "IntervalStyle", "extra_float_digits",
								 "bytea_output", "lc_monetary"}) {
			/* As the worker has it (it sets it so: exact floats); the others as the session began. */
			const char *value = strcmp(name, "extra_float_digits") == 0 ? "1" : GetConfigOptionResetString(name);
			if (value != nullptr)
				(void) set_config_option(name, value, superuser() ? PGC_SUSET : PGC_USERSET, PGC_S_SESSION,
										 GUC_ACTION_SAVE, true, 0, false);
		}
	});
	return level;
}

void abortTransaction()
{
	/* Releases locks, snapshots, SPI and portals of the failed transaction, as PostgresMain does. */
	call([] {
		HOLD_INTERRUPTS();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(TopMemoryContext);
		RESUME_INTERRUPTS();
		pgstat_report_activity(STATE_IDLE, NULL);
	});
}

/* Only in the worker: a session calling verify() has its own statement_timeout on the same timer. */
void armStatementTimeout()
{
	if (settings::statementTimeoutMs > 0 && pg::amBackgroundWorker())
		call([] { enable_timeout_after(STATEMENT_TIMEOUT, settings::statementTimeoutMs); });
}

void disarmStatementTimeout()
{
	if (settings::statementTimeoutMs > 0 && pg::amBackgroundWorker())
		call([] { disable_timeout(STATEMENT_TIMEOUT, false); });
}

/* Like PL/pgSQL's exception blocks: the caller's memory context and resource owner stay current. */
namespace {
MemoryContext subtransactionCallerContext;
ResourceOwner subtransactionCallerOwner;
}

void beginSubtransaction()
{
	call([] {
		subtransactionCallerContext = CurrentMemoryContext;
		subtransactionCallerOwner = CurrentResourceOwner;
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(subtransactionCallerContext);
	});
}

void commitSubtransaction()
{
	call([] {
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(subtransactionCallerContext);
		CurrentResourceOwner = subtransactionCallerOwner;
	});
}

void rollbackSubtransaction()
{
	call([] {
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(subtransactionCallerContext);
		CurrentResourceOwner = subtransactionCallerOwner;
	});
}

} // namespace cachepusher::pg
