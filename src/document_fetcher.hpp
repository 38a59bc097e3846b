/*
 * Builds the current documents of many keys of a source with one SPI query, run as the source's owner.
 * A key whose document cannot be built (its text does not cast to the function's argument type, the
 * function raises) is reported on its own; every other key of the batch is still fetched. A key that
 * does not cast names no document at all: it is also returned as gone, so its Redis key is deleted.
 * A key that casts but is spelt otherwise than its type prints it ("042") is returned twice: the
 * document under the key as printed ("42"), and as gone under its own spelling. So is an empty key, which is not reported here: the worker
 * counts one where it arrives, and a warmup or verify() never asks for one.
 */
#pragma once

#include "source.hpp"

#include <optional>
#include <string>
#include <vector>

namespace cachepusher {

struct Document {
	std::string key;
	std::optional<std::string> body; /* nullopt: the document is gone, delete the key */
};

struct FailedKey {
	std::string key;
	std::string error;
	bool retry = true; /* false: the key is not even of the key type, no attempt can succeed */
};

/* Call inside a transaction. Throws PgError only for failures of the source itself (cannot prepare). */
void fetchDocuments(Source &source, const std::vector<std::string> &keys, std::vector<Document> &documents,
					std::vector<FailedKey> &failed);

/*
 * The key in columns firstColumn .. firstColumn + columns - 1 of an SPI result row (a key query's,
 * a documents query's), as the worker keeps it (composite_key.hpp); nullopt when a column is NULL.
 */
std::optional<std::string> keyInRow(uint64 row, int firstColumn, size_t columns);

/* Drops the saved plan (the source changed or is going away). */
void forgetDocumentsPlan(Source &source);

} // namespace cachepusher
