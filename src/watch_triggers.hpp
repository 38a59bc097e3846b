/*
 * The triggers watch() installed: those that call cachepusher._notify_trigger(), whatever version of
 * watch() named them. drop_source and unwatch drop a source's (sql_api.cpp), DROP EXTENSION every one
 * (drop_guard.cpp). Clones in partitions are not listed: they go with their partitioned table's.
 */
#pragma once

#include <optional>
#include <string>
#include <vector>

extern "C" {
#include "postgres.h"
}

namespace cachepusher::watch_triggers {

struct WatchTrigger {
	std::string dropStatement; /* DROP TRIGGER with the table's name qualified */
	bool ownedByRole; /* role has the privileges of the table's owner */
	bool roleMayTrigger; /* role has the TRIGGER privilege on the table */
};

/*
 * The triggers of source (of every source when none) on table (on every table when none), as seen
 * by role. Reads only pg_catalog, qualified; SPI must be connected.
 */
std::vector<WatchTrigger> find(const std::optional<std::string> &source, std::optional<Oid> table, Oid role);

} // namespace cachepusher::watch_triggers
