#include "log_budget.hpp"

#include "log_window.hpp"

extern "C" {
#include "postgres.h"
#include "utils/elog.h"
}

namespace cachepusher::log_budget {
namespace {
LogWindow window(linesPerWindow, windowMs);
} // namespace

bool allow(Timestamp now)
{
	return window.allow(now);
}

void reportNotLogged(Timestamp now)
{
	std::optional<LogWindow::NotLogged> notLogged = window.close(now);
	if (!notLogged)
		return;
	ereport(LOG, (errmsg("cachepusher: %lld more lines about bad keys and notifications not logged in the last %ld s",
						 static_cast<long long>(notLogged->lines), notLogged->seconds),
				  errdetail("At most %d such lines are logged every %ld s; status.errors counts every failed key.",
							linesPerWindow, windowMs / 1000)));
}

Timestamp reportDueAt()
{
	return window.reportDueAt();
}

} // namespace cachepusher::log_budget
