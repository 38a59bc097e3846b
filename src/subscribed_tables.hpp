/*
 * Tables that a logical replication subscription began writing to after watch(). The subscription's
 * apply worker fires row triggers only, so watch() gives such a table row triggers; but a table added
 * to a subscription later (ALTER SUBSCRIPTION ... REFRESH PUBLICATION) kept the statement triggers it
 * had, and the rows the subscription applied to it never reached Redis. The worker looks for such
 * tables at each catalog load, runs watch() again for them (as the table's owner, with a short
 * lock_timeout: it takes the table's trigger lock like any CREATE TRIGGER) and resyncs their sources,
 * which covers the rows applied before the switch (docs/design.md §4).
 */
#pragma once

#include <string>
#include <vector>

namespace cachepusher {

class SourceSet;

namespace subscribed_tables {

/*
 * Switches every such table of the sources served to row triggers; returns the sources whose triggers
 * were switched, to be resynced. In a transaction of its own; a table that cannot be switched now
 * (its lock not granted within 200 ms, its owner without the source owner's privileges, an error) is
 * logged and shown as its source's last error, and tried again after 10 s, 20 s, ... up to 10 minutes.
 */
std::vector<std::string> switchToRowTriggers(SourceSet &sources);

} // namespace subscribed_tables

} // namespace cachepusher
