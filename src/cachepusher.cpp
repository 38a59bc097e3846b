/* Entry point: settings, shared memory and the background worker, registered at server start. */
#include "password_redaction.hpp"
#include "settings.hpp"
#include "shared_state.hpp"

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"

PG_MODULE_MAGIC;

PGDLLEXPORT void _PG_init(void);
}

namespace {

void registerWorker()
{
	BackgroundWorker worker;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* Also on a hot standby, where it only shows its sources as "standby" until promotion. */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	/* Restart soon after a crash; the restarted worker resyncs what it may have missed. */
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "cachepusher");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "cachepusher_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "cachepusher worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "cachepusher");
	RegisterBackgroundWorker(&worker);
}

} // namespace

void _PG_init(void)
{
	cachepusher::settings::define(process_shared_preload_libraries_in_progress);
	cachepusher::password_redaction::install();

	if (!process_shared_preload_libraries_in_progress) {
		/* Loaded by CREATE EXTENSION or LOAD: the SQL API works, but nothing fills Redis. */
		return;
	}
	if (IsBinaryUpgrade)
		return;

	cachepusher::shared_state::install();
	registerWorker();
}
