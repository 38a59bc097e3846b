/*
 * Prepared transactions whose keys are in the commit queue (docs/design.md §4): their entries are
 * held here until COMMIT PREPARED or ROLLBACK PREPARED, which send no signal, so the worker looks now
 * and then whether each one has ended.
 */
#pragma once

#include "key_queue.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace cachepusher {

class PreparedTransactions {
public:
	/*
	 * The prepared transactions there are when the worker starts: one before it may have taken their
	 * keys out of the queue (or the server restarted and the queue is new), so when one of them
	 * commits every source is warmed again. Runs a transaction.
	 */
	void findAtStart();
	/* A prepared transaction's entry, held until it ends. May throw std::bad_alloc. */
	void add(TransactionId xid, key_queue::Kind kind, std::string_view payload);
	bool waiting() const { return !entries_.empty() || !unknown_.empty(); }
	/*
	 * Forgets the transactions that ended: calls committed() for each entry of one that committed, in
	 * the order they were queued, and unknownCommitted() for each of those found at start that did.
	 */
	void resolve(const std::function<void(key_queue::Kind, std::string_view)> &committed,
				 const std::function<void()> &unknownCommitted);

private:
	struct Entry {
		TransactionId xid;
		key_queue::Kind kind;
		std::string payload;
	};
	std::vector<Entry> entries_;
	/* Found at start: what they queued is unknown. */
	std::vector<TransactionId> unknown_;
};

} // namespace cachepusher
