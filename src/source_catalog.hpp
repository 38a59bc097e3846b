/* Reads the registered sources from cachepusher.source and checks that each can be served. */
#pragma once

#include "source.hpp"

#include <optional>
#include <vector>

namespace cachepusher::source_catalog {

/* The sources of this database; nullopt when the extension is not installed here. Runs a transaction. */
std::optional<std::vector<SourceDefinition>> load();
/* The sources the current user may see, read in the current transaction (SPI connected). */
std::vector<SourceDefinition> read();
/* Prefixes of dropped sources whose keys are to be deleted (drop_source delete_keys). Runs a transaction. */
std::vector<std::string> forgottenPrefixes();
/* The prefix's keys are gone: forget it. Runs a transaction. */
void prefixSwept(const std::string &prefix);

} // namespace cachepusher::source_catalog
