/* wait_for_sync()'s bookkeeping in the worker: what is owed since when, and what is reported. */
#include "sync_tracker.hpp"

#include <gtest/gtest.h>

namespace cachepusher {
namespace {

TEST(AskedAt, KeepsTheEarliestAskUntilTaken)
{
	AskedAt asked;
	EXPECT_EQ(asked.since(), 0);
	asked.ask(200);
	asked.ask(100);
	asked.ask(300);
	EXPECT_EQ(asked.since(), 100);
	EXPECT_EQ(asked.take(), 100);
	EXPECT_EQ(asked.since(), 0);
	asked.ask(400);
	EXPECT_EQ(asked.take(), 400);
	EXPECT_EQ(asked.take(), 0);
}

TEST(SyncTracker, ReportsATakenRequestOnce)
{
	SyncTracker sync;
	EXPECT_FALSE(sync.owed());
	EXPECT_FALSE(sync.isNew(0));
	EXPECT_TRUE(sync.isNew(1));
	sync.take(1, 500);
	EXPECT_FALSE(sync.isNew(1));
	EXPECT_TRUE(sync.owed());
	EXPECT_EQ(sync.owedUpTo(), 500);
	EXPECT_EQ(sync.reached(), 1u);
	EXPECT_FALSE(sync.owed());
}

TEST(SyncTracker, ANewerRequestReplacesOneNotReportedYet)
{
	SyncTracker sync;
	sync.take(1, 500);
	EXPECT_TRUE(sync.isNew(3)); /* 2 and 3 were asked meanwhile: 3 answers both */
	sync.take(3, 900);
	EXPECT_EQ(sync.taken(), 3u);
	EXPECT_EQ(sync.owedUpTo(), 900);
	EXPECT_EQ(sync.reached(), 3u);
	EXPECT_FALSE(sync.isNew(3));
}

} // namespace
} // namespace cachepusher
