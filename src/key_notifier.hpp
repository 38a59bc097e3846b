/*
 * Tells the worker, when the transaction commits, that keys of a source may have changed. Used by the
 * watch() trigger and verify(repair).
 *
 * The keys are collected in this backend's memory while the transaction runs (a subtransaction that
 * rolls back takes its own keys with it) and copied into the commit queue (key_queue) just before
 * the commit record is written; the commit marks them committed. A rolled-back transaction sends
 * nothing. No NOTIFY: its cluster-wide lock would make every watched commit of the cluster wait for
 * the others' WAL flushes. Only a backend of the database the worker serves collects anything.
 *
 * A prepared transaction (PREPARE TRANSACTION) queues its keys marked with its transaction id; the
 * worker takes them once COMMIT PREPARED is seen, and drops them after ROLLBACK PREPARED.
 */
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cachepusher::key_notifier {

/* Can raise (out of memory, a catalog lookup): call from PostgreSQL-facing code through pg::call. */
void notifyKeys(const std::string &source, const std::vector<std::string_view> &keys);
/* Asks the worker to warm the source again (as resync(source) does), at commit. */
void notifyResync(const std::string &source);

} // namespace cachepusher::key_notifier
