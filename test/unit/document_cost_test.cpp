/* The cost of a document, per window, and when it is slow enough to say so. */
#include "document_cost.hpp"

#include <gtest/gtest.h>

namespace cachepusher {
namespace {

constexpr Timestamp minute = 60 * 1000 * microsecondsPerMs;

TEST(DocumentCost, NothingMeasuredCostsNothing)
{
	DocumentCost cost;
	EXPECT_EQ(cost.msPerDocument(), 0);
	EXPECT_FALSE(cost.slow());
	EXPECT_FALSE(cost.hintDue(0));
}

TEST(DocumentCost, APartialWindowShowsItsCostButIsNotJudged)
{
	DocumentCost cost;
	cost.add(1000, 2'000'000); /* 2 ms a document, but only half a window */
	EXPECT_DOUBLE_EQ(cost.msPerDocument(), 2.0);
	EXPECT_FALSE(cost.slow());
}

TEST(DocumentCost, AFullWindowOfSlowDocumentsIsSlow)
{
	DocumentCost cost;
	for (int i = 0; i < 20; i++)
		cost.add(100, 80'000); /* 0.8 ms a document: the seed's schema without its index */
	EXPECT_DOUBLE_EQ(cost.msPerDocument(), 0.8);
	EXPECT_TRUE(cost.slow());
}

TEST(DocumentCost, QuickDocumentsAreNot)
{
	DocumentCost cost;
	cost.add(5000, 100'000); /* 20 us a document */
	EXPECT_NEAR(cost.msPerDocument(), 0.02, 1e-9);
	EXPECT_FALSE(cost.slow());
	EXPECT_FALSE(cost.hintDue(0));
}

TEST(DocumentCost, TheNextWindowDecides)
{
	DocumentCost cost;
	cost.add(2000, 2'000'000); /* 1 ms */
	EXPECT_TRUE(cost.slow());
	cost.add(1999, 1000); /* not yet a window: the last one still counts */
	EXPECT_TRUE(cost.slow());
	cost.add(1, 0); /* the index was made */
	EXPECT_FALSE(cost.slow());
}

TEST(DocumentCost, ABigQueryIsAWindowOfItsOwn)
{
	DocumentCost cost;
	cost.add(1500, 1'500'000); /* slow, a partial window */
	cost.add(3000, 60'000);	   /* a whole warmup chunk after the index was made */
	EXPECT_NEAR(cost.msPerDocument(), 0.02, 1e-9);
	EXPECT_FALSE(cost.slow());
}

TEST(DocumentCost, TheHintIsSaidOnceAnHourAtMost)
{
	DocumentCost cost;
	cost.add(2000, 2'000'000);
	Timestamp now = 100 * minute;
	EXPECT_TRUE(cost.hintDue(now));
	EXPECT_FALSE(cost.hintDue(now + 59 * minute));
	EXPECT_TRUE(cost.hintDue(now + 60 * minute));
}

TEST(DocumentCost, NoDocumentsNoChange)
{
	DocumentCost cost;
	cost.add(0, 5'000'000);
	cost.add(-3, 5'000'000);
	EXPECT_EQ(cost.msPerDocument(), 0);
}

} // namespace
} // namespace cachepusher
