/*
 * What building one document of a source costs, measured over windows of documents, and when to say
 * that it is slow (docs/design.md §5). A document function that scans a child table for every key (no
 * index on the column it looks child rows up by) costs a millisecond a document where an indexed one
 * costs microseconds; the user sees only a worker that is behind. Pure: the caller measures and says
 * what time it is, and logs.
 */
#pragma once

#include "log_window.hpp"
#include "timestamp.hpp"

#include <cstdint>

namespace cachepusher {

class DocumentCost {
public:
	/* The documents a window holds before its cost counts, and the cost that is called slow. */
	static constexpr int64_t windowDocuments = 2000;
	static constexpr double slowMsPerDocument = 0.5;
	/* How often the slow cost of one source is said at most. */
	static constexpr long hintIntervalMs = 3600 * 1000;

	/*
	 * Documents built (or found gone) by one query, and the microseconds it took. Queries add up to a
	 * window; one of a window's size or more is a window of its own.
	 */
	void add(int64_t documents, int64_t microseconds);
	/* Of the last full window; before the first one is full, of what was measured so far; 0: nothing. */
	double msPerDocument() const;
	/* The last full window cost slowMsPerDocument or more a document. */
	bool slow() const { return lastMs_ >= slowMsPerDocument; }
	/* slow(), and not said within hintIntervalMs: the caller says it now. */
	bool hintDue(Timestamp now);

private:
	int64_t windowDocuments_ = 0;
	int64_t windowMicroseconds_ = 0;
	double lastMs_ = -1; /* -1: no full window yet */
	LogInterval hint_{hintIntervalMs};
};

} // namespace cachepusher
