/* The one back-off: doubling from the first wait to the longest, read at each failure. */
#include "backoff.hpp"

#include <gtest/gtest.h>

namespace cachepusher {
namespace {

constexpr Timestamp second = 1000 * microsecondsPerMs;

TEST(Backoff, DoublesUpToTheLongestWait)
{
	int first = 1000, longest = 30000;
	Backoff backoff(first, longest);
	EXPECT_TRUE(backoff.due(0));
	long expected[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
	for (long delay : expected)
		EXPECT_EQ(backoff.failed(0), delay);
	EXPECT_EQ(backoff.failures(), 7);
}

TEST(Backoff, DueAfterTheDelay)
{
	int first = 1000, longest = 30000;
	Backoff backoff(first, longest);
	Timestamp now = 700 * second;
	backoff.failed(now);
	EXPECT_EQ(backoff.nextAttempt(), now + second);
	EXPECT_FALSE(backoff.due(now));
	EXPECT_FALSE(backoff.due(now + second - 1));
	EXPECT_TRUE(backoff.due(now + second));
	backoff.failed(now + second);
	EXPECT_EQ(backoff.nextAttempt(), now + 3 * second);
}

TEST(Backoff, ResetStartsOver)
{
	int first = 10, longest = 100;
	Backoff backoff(first, longest);
	backoff.failed(5 * second);
	backoff.failed(5 * second);
	backoff.reset();
	EXPECT_EQ(backoff.failures(), 0);
	EXPECT_EQ(backoff.nextAttempt(), 0);
	EXPECT_TRUE(backoff.due(0));
	EXPECT_EQ(backoff.failed(0), 10);
}

TEST(Backoff, ReadsTheWaitsAtEachFailure)
{
	int first = 1000, longest = 30000;
	Backoff backoff(first, longest);
	backoff.failed(0);
	longest = 1500; /* a reload */
	EXPECT_EQ(backoff.failed(0), 1500);
	first = 100;
	longest = 100000;
	EXPECT_EQ(backoff.failed(0), 400);
}

TEST(Backoff, AFirstWaitAboveTheLongestIsCutToIt)
{
	int first = 5000, longest = 1000;
	Backoff backoff(first, longest);
	EXPECT_EQ(backoff.failed(0), 1000);
	EXPECT_EQ(backoff.failed(0), 1000);
}

TEST(Backoff, SentinelAsks)
{
	/* What RedisTarget asks a Sentinel with: 2 s doubling to 16 s. */
	static const int first = 2000, longest = 16000;
	Backoff backoff(first, longest);
	long expected[] = {2000, 4000, 8000, 16000, 16000};
	for (long delay : expected)
		EXPECT_EQ(backoff.failed(0), delay);
}

} // namespace
} // namespace cachepusher
