#include "log_window.hpp"

#include "cpp_only.hpp" /* last: this module is PostgreSQL-free */

namespace cachepusher {

void LogWindow::open(Timestamp now)
{
	windowStart_ = now;
	logged_ = 0;
	notLogged_ = 0;
}

bool LogWindow::allow(Timestamp now)
{
	if (notLogged_ == 0 && over(now))
		open(now);
	if (logged_ < linesPerWindow_) {
		logged_++;
		return true;
	}
	notLogged_++;
	return false;
}

std::optional<LogWindow::NotLogged> LogWindow::close(Timestamp now)
{
	if (notLogged_ == 0 || !over(now))
		return std::nullopt;
	NotLogged result{notLogged_, static_cast<long>((now - windowStart_) / (1000 * microsecondsPerMs))};
	open(now);
	return result;
}

bool LogInterval::due(Timestamp now)
{
	if (said_ && now - saidAt_ < intervalMs_ * microsecondsPerMs)
		return false;
	said_ = true;
	saidAt_ = now;
	return true;
}

} // namespace cachepusher
