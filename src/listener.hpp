/*
 * Receiving NOTIFY inside the worker (docs/design.md §2). A background worker has no client, so PostgreSQL
 * would only log its notifications; around the drain we point the frontend protocol at our own
 * callbacks and hand each notification to a handler.
 */
#pragma once

#include <string_view>

namespace cachepusher::listener {

class Handler {
public:
	virtual ~Handler() = default;
	/* Called for every notification; must not call PostgreSQL (it runs inside the async code). */
	virtual void onNotification(std::string_view channel, std::string_view payload) = 0;
	/* Called when a notification could not be kept (out of memory): something may be lost. */
	virtual void onLostNotification() = 0;
};

/* LISTEN / UNLISTEN; each runs its own transaction, so call them outside one. */
void listen(const char *channel);
void unlisten(const char *channel);

/* Whether notifications are waiting to be drained (the signal handler sets this). */
bool pending();

/*
 * Delivers every queued notification to handler. Call outside a transaction. With force it reads the
 * queue even when no signal said so: everything committed before the call is then delivered.
 */
void drain(Handler &handler, bool force = false);

} // namespace cachepusher::listener
