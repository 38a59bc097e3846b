/* The log budget's counting: so many lines a window, the rest counted and reported once. */
#include "log_window.hpp"

#include <gtest/gtest.h>

namespace cachepusher {
namespace {

constexpr Timestamp ms = microsecondsPerMs;

TEST(LogWindow, AllowsTheBudgetThenCounts)
{
	LogWindow window(3, 10000);
	Timestamp t = 1000000 * ms;
	EXPECT_TRUE(window.allow(t));
	EXPECT_TRUE(window.allow(t));
	EXPECT_TRUE(window.allow(t));
	EXPECT_EQ(window.reportDueAt(), 0);
	EXPECT_FALSE(window.allow(t + 1));
	EXPECT_FALSE(window.allow(t + 2));
	EXPECT_EQ(window.reportDueAt(), t + 10000 * ms);
}

TEST(LogWindow, ReportsWhatWasNotLoggedOnceTheWindowIsOver)
{
	LogWindow window(1, 10000);
	Timestamp t = 1000000 * ms;
	window.allow(t);
	window.allow(t);
	window.allow(t);
	EXPECT_FALSE(window.close(t + 9999 * ms).has_value());
	/* The window stays open while lines wait to be reported, however late. */
	EXPECT_FALSE(window.allow(t + 20000 * ms));
	std::optional<LogWindow::NotLogged> report = window.close(t + 25000 * ms);
	ASSERT_TRUE(report.has_value());
	EXPECT_EQ(report->lines, 3);
	EXPECT_EQ(report->seconds, 25);
	/* The next window starts at the report. */
	EXPECT_EQ(window.reportDueAt(), 0);
	EXPECT_FALSE(window.close(t + 60000 * ms).has_value());
	EXPECT_TRUE(window.allow(t + 25001 * ms));
	EXPECT_FALSE(window.allow(t + 25002 * ms));
	EXPECT_EQ(window.reportDueAt(), t + 35000 * ms);
}

TEST(LogWindow, AQuietWindowEndsQuietly)
{
	LogWindow window(2, 10000);
	Timestamp t = 1000000 * ms;
	EXPECT_TRUE(window.allow(t));
	EXPECT_TRUE(window.allow(t));
	EXPECT_FALSE(window.close(t + 10000 * ms).has_value());
	/* A new window, with its whole budget, once the old one is over. */
	EXPECT_TRUE(window.allow(t + 10000 * ms));
	EXPECT_TRUE(window.allow(t + 10000 * ms));
	EXPECT_FALSE(window.allow(t + 10000 * ms));
}

TEST(LogInterval, OnceAtFirstThenOncePerInterval)
{
	LogInterval line(60000);
	Timestamp t = 0; /* the very first moment counts too: nothing was said yet */
	EXPECT_TRUE(line.due(t));
	EXPECT_FALSE(line.due(t));
	EXPECT_FALSE(line.due(t + 59999 * ms));
	EXPECT_TRUE(line.due(t + 60000 * ms));
	EXPECT_FALSE(line.due(t + 60001 * ms));
}

} // namespace
} // namespace cachepusher
