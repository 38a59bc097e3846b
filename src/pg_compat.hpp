/*
 * What differs between the PostgreSQL major versions we build against (15 to 18), in one place: the
 * rest of the source calls these and never tests PG_VERSION_NUM itself.
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "catalog/pg_proc.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
}

namespace cachepusher::pg {

/* Whether this process is a background worker (the worker, not a backend running our SQL). */
inline bool amBackgroundWorker()
{
#if PG_VERSION_NUM >= 170000
	return AmBackgroundWorkerProcess(); /* 17 replaced the IsBackgroundWorker flag by the backend type */
#else
	return IsBackgroundWorker;
#endif
}

/*
 * A wait event set for nevents events, freed by FreeWaitEventSet. Since 17 it is owned by a
 * resource owner (which frees it on abort) rather than allocated in a memory context; the current
 * one is what WaitLatchOrSocket passes too.
 */
inline WaitEventSet *createWaitEventSet(int nevents)
{
#if PG_VERSION_NUM >= 170000
	return CreateWaitEventSet(CurrentResourceOwner, nevents);
#else
	return CreateWaitEventSet(CurrentMemoryContext, nevents);
#endif
}

/* A wait event set that lives as long as the process (as PostgreSQL's own LatchWaitSet). */
inline WaitEventSet *createProcessWaitEventSet(int nevents)
{
#if PG_VERSION_NUM >= 170000
	return CreateWaitEventSet(NULL, nevents);
#else
	return CreateWaitEventSet(TopMemoryContext, nevents);
#endif
}

/* Whether roleid may call function with mode (16 replaced the per-catalog checks by one). */
inline AclResult functionAclCheck(Oid function, Oid roleid, AclMode mode)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(ProcedureRelationId, function, roleid, mode);
#else
	return pg_proc_aclcheck(function, roleid, mode);
#endif
}

} // namespace cachepusher::pg
