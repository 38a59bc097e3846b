/* Pending keys: deduplicated, first in first out, and the lag their oldest key carries. */
#include "pending_keys.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cachepusher {
namespace {

using Keys = std::vector<std::string>;

TEST(PendingKeys, DeduplicatesAndKeepsArrivalOrder)
{
	PendingKeys pending;
	EXPECT_TRUE(pending.empty());
	EXPECT_EQ(pending.oldestSince(), 0);
	EXPECT_TRUE(pending.add("a", 10));
	EXPECT_TRUE(pending.add("b", 20));
	EXPECT_FALSE(pending.add("a", 30));
	EXPECT_TRUE(pending.add("c", 40));
	EXPECT_EQ(pending.size(), 3u);
	EXPECT_TRUE(pending.contains("b"));
	EXPECT_EQ(pending.oldestSince(), 10);
	EXPECT_EQ(pending.take(2), (Keys{"a", "b"}));
	EXPECT_FALSE(pending.contains("a"));
	EXPECT_EQ(pending.oldestSince(), 40);
	EXPECT_EQ(pending.take(10), Keys{"c"});
	EXPECT_TRUE(pending.empty());
	EXPECT_EQ(pending.oldestSince(), 0);
	EXPECT_EQ(pending.take(10), Keys{});
}

TEST(PendingKeys, ATakenKeyCanBeAddedAgain)
{
	PendingKeys pending;
	pending.add("a", 1);
	pending.take(1);
	EXPECT_TRUE(pending.add("a", 2));
	EXPECT_EQ(pending.oldestSince(), 2);
}

TEST(PendingKeys, RequeuedKeysGoFirstWithTheirAge)
{
	PendingKeys pending;
	pending.add("a", 100);
	pending.add("b", 200);
	Keys taken = pending.take(2);
	pending.add("c", 300);
	EXPECT_EQ(pending.requeue(taken, 100), 2u);
	EXPECT_EQ(pending.size(), 3u);
	EXPECT_EQ(pending.oldestSince(), 100);
	EXPECT_EQ(pending.take(3), (Keys{"a", "b", "c"}));
}

TEST(PendingKeys, AKeyNotifiedAgainMovesToTheFrontWhenRequeued)
{
	PendingKeys pending;
	pending.add("a", 100);
	Keys taken = pending.take(1);
	pending.add("x", 150);
	pending.add("a", 200); /* notified again while its first change was being pushed */
	EXPECT_EQ(pending.requeue(taken, 100), 0u);
	EXPECT_EQ(pending.size(), 2u);
	EXPECT_EQ(pending.oldestSince(), 100);
	EXPECT_EQ(pending.take(10), (Keys{"a", "x"}));
	EXPECT_TRUE(pending.empty());
}

TEST(PendingKeys, RequeueNeverLooksYoungerThanWhatWaits)
{
	PendingKeys pending;
	pending.add("old", 50);
	pending.requeue(Keys{"r"}, 500);
	/* Requeued in front of a key waiting since 50: it counts as waiting since 50 too. */
	EXPECT_EQ(pending.oldestSince(), 50);
	EXPECT_EQ(pending.take(1), Keys{"r"});
	EXPECT_EQ(pending.oldestSince(), 50);
}

TEST(PendingKeys, ClearForgetsEverything)
{
	PendingKeys pending;
	pending.add("a", 1);
	pending.add("b", 2);
	pending.clear();
	EXPECT_TRUE(pending.empty());
	EXPECT_FALSE(pending.contains("a"));
	EXPECT_TRUE(pending.add("a", 3));
	EXPECT_EQ(pending.take(5), Keys{"a"});
}

TEST(PendingKeys, ManyKeysStayConsistent)
{
	PendingKeys pending;
	for (int i = 0; i < 10000; i++)
		pending.add(std::to_string(i % 2500), i);
	EXPECT_EQ(pending.size(), 2500u);
	Keys first = pending.take(1000);
	EXPECT_EQ(first.front(), "0");
	EXPECT_EQ(first.back(), "999");
	pending.requeue(first, 0);
	EXPECT_EQ(pending.size(), 2500u);
	Keys all = pending.take(100000);
	ASSERT_EQ(all.size(), 2500u);
	for (int i = 0; i < 2500; i++)
		EXPECT_EQ(all[i], std::to_string(i));
}

TEST(PendingTotal, FollowsEverySetAttachedToIt)
{
	PendingTotal total;
	PendingKeys a(&total), b(&total);
	a.add("1", 1);
	a.add("2", 2);
	a.add("1", 3); /* already waiting: not counted again */
	b.add("1", 4);
	EXPECT_EQ(total.value(), 3u);
	Keys taken = a.take(1);
	EXPECT_EQ(total.value(), 2u);
	a.add("3", 5);
	EXPECT_EQ(a.requeue(Keys{"1", "3"}, 0), 1u); /* "3" was waiting */
	EXPECT_EQ(total.value(), 4u);
	b.clear();
	EXPECT_EQ(total.value(), 3u);
	a.take(100);
	EXPECT_EQ(total.value(), 0u);
}

TEST(PendingTotal, ASetGoneOrMovedTakesItsKeysAlong)
{
	PendingTotal total;
	{
		PendingKeys gone(&total);
		gone.add("a", 1);
		gone.add("b", 2);
		EXPECT_EQ(total.value(), 2u);
	}
	EXPECT_EQ(total.value(), 0u);
	std::vector<PendingKeys> sets;
	sets.emplace_back(&total);
	sets.back().add("a", 1);
	for (int i = 0; i < 10; i++)
		sets.emplace_back(&total).add(std::to_string(i), i); /* reallocates: the sets are moved */
	EXPECT_EQ(total.value(), 11u);
	EXPECT_TRUE(sets.front().contains("a"));
	sets.front() = PendingKeys(&total);
	EXPECT_EQ(total.value(), 10u);
	sets.clear();
	EXPECT_EQ(total.value(), 0u);
}

TEST(PendingKeys, ABatchIsDueWhenFullOrOnceItsOldestKeyWaitedTheDelay)
{
	PendingKeys pending;
	EXPECT_EQ(pending.batchDueAt(3, 2), 0);
	pending.add("a", plusMs(0, 10));
	pending.add("b", plusMs(0, 11));
	/* Two of three: due 2 ms after the oldest arrived, whenever the others did. */
	EXPECT_EQ(pending.batchDueAt(3, 2), plusMs(0, 12));
	/* No delay: due as soon as one waits. */
	EXPECT_EQ(pending.batchDueAt(3, 0), plusMs(0, 10));
	pending.add("c", plusMs(0, 11));
	/* A full batch waits for nothing. */
	EXPECT_EQ(pending.batchDueAt(3, 2), plusMs(0, 10));
	pending.take(3);
	EXPECT_EQ(pending.batchDueAt(3, 2), 0);
}

} // namespace
} // namespace cachepusher
