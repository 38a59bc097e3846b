/*
 * The arguments of the SQL functions that change sources, read and checked: a clear error for each
 * value that is refused (pg::raise), so every function refuses the same values the same way.
 */
#pragma once

#include "pg_boundary.hpp"

#include <optional>
#include <string>
#include <vector>

extern "C" {
#include "fmgr.h"
}

namespace cachepusher::sql_arguments {

/* Argument n as text; nullopt when NULL. */
std::optional<std::string> textArg(FunctionCallInfo fcinfo, int n);
/* A source name or key prefix: 1 to 63 letters, digits, "_", "." and "-". */
void checkName(const char *what, const std::optional<std::string> &name);
/* NOTIFY channels, each once; none of cachepusher's own. */
std::vector<std::string> channelsArg(FunctionCallInfo fcinfo, int n);
/* A TTL from 1 ms to 100 years, as interval text; nullopt when NULL or not passed. */
std::optional<std::string> ttlArg(FunctionCallInfo fcinfo, int n);
/* The member of a document that gives its TTL: not empty; nullopt when NULL or not passed. */
std::optional<std::string> ttlFieldArg(FunctionCallInfo fcinfo, int n);
/* A value type (value_type.hpp); fallback when NULL or not passed. */
std::optional<std::string> valueTypeArg(FunctionCallInfo fcinfo, int n, std::optional<std::string> fallback);

} // namespace cachepusher::sql_arguments
