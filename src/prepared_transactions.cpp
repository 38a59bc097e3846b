#include "prepared_transactions.hpp"

#include "pg_boundary.hpp"
#include "spi.hpp"
#include "transaction.hpp"

extern "C" {
#include "access/transam.h"
#include "storage/procarray.h"
}

namespace cachepusher {
namespace {

/* Whether xid is no longer in progress; *committed: and it committed. */
bool ended(TransactionId xid, bool *committed)
{
	if (!TransactionIdIsValid(xid)) {
		*committed = true;
		return true;
	}
	bool done = false;
	pg::call([&] {
		done = !TransactionIdIsInProgress(xid);
		*committed = done && TransactionIdDidCommit(xid);
	});
	return done;
}

} // namespace

void PreparedTransactions::findAtStart()
{
	pg::inTransaction("cachepusher: prepared transactions", [&] {
		uint64 rows = spi::execute("SELECT transaction::text FROM pg_catalog.pg_prepared_xacts "
								   "WHERE database = pg_catalog.current_database()");
		for (uint64 row = 0; row < rows; row++)
			if (auto xid = spi::value(row, 1))
				unknown_.push_back(static_cast<TransactionId>(std::stoul(*xid)));
	});
	if (!unknown_.empty())
		ereport(LOG, (errmsg("cachepusher: %zu prepared transactions found at start; every source is warmed "
							 "again when one of them commits",
							 unknown_.size())));
}

void PreparedTransactions::add(TransactionId xid, key_queue::Kind kind, std::string_view payload)
{
	entries_.push_back(Entry{xid, kind, std::string(payload)});
}

void PreparedTransactions::resolve(const std::function<void(key_queue::Kind, std::string_view)> &committed,
								   const std::function<void()> &unknownCommitted)
{
	for (size_t i = 0; i < entries_.size();) {
		bool didCommit;
		if (!ended(entries_[i].xid, &didCommit)) {
			i++;
			continue;
		}
		if (didCommit)
			committed(entries_[i].kind, entries_[i].payload);
		entries_.erase(entries_.begin() + i);
	}
	for (size_t i = 0; i < unknown_.size();) {
		bool didCommit;
		if (!ended(unknown_[i], &didCommit)) {
			i++;
			continue;
		}
		if (didCommit)
			unknownCommitted();
		unknown_.erase(unknown_.begin() + i);
	}
}

} // namespace cachepusher
