#include "listener.hpp"

#include "pg_boundary.hpp"

#include <arpa/inet.h>
#include <cstring>

extern "C" {
#include "access/xact.h"
#include "commands/async.h"
#include "libpq/libpq.h"
#include "libpq/libpq-be.h"
#include "tcop/tcopprot.h"
}

namespace cachepusher::listener {
namespace {

Handler *currentHandler = nullptr;

/* Parses a NotificationResponse ('A': int32 pid, channel, payload). Never raises, never allocates. */
int captureMessage(char msgtype, const char *s, size_t len)
{
	if (msgtype != 'A' || currentHandler == nullptr || len < 4)
		return 0;
	const char *channel = s + 4;
	const char *end = s + len;
	const char *channelEnd = static_cast<const char *>(memchr(channel, '\0', end - channel));
	if (channelEnd == nullptr)
		return 0;
	const char *payload = channelEnd + 1;
	const char *payloadEnd = payload < end ? static_cast<const char *>(memchr(payload, '\0', end - payload))
										   : nullptr;
	std::string_view payloadView = payloadEnd ? std::string_view(payload, payloadEnd - payload)
											  : std::string_view();
	try {
		currentHandler->onNotification(std::string_view(channel, channelEnd - channel), payloadView);
	} catch (...) {
		currentHandler->onLostNotification();
	}
	return 0;
}

void captureMessageNoblock(char msgtype, const char *s, size_t len)
{
	captureMessage(msgtype, s, len);
}

void ignoreReset() {}
int flushNothing()
{
	return 0;
}
bool nothingPending()
{
	return false;
}

const PQcommMethods captureMethods = {
	ignoreReset, flushNothing, flushNothing, nothingPending, captureMessage, captureMessageNoblock,
};

} // namespace

void listen(const char *channel)
{
	pg::call([channel] {
		StartTransactionCommand();
		Async_Listen(channel);
		CommitTransactionCommand();
	});
}

void unlisten(const char *channel)
{
	pg::call([channel] {
		StartTransactionCommand();
		Async_Unlisten(channel);
		CommitTransactionCommand();
	});
}

bool pending()
{
	return notifyInterruptPending;
}

void drain(Handler &handler, bool force)
{
	if (force)
		notifyInterruptPending = true;
	if (!notifyInterruptPending)
		return;
	currentHandler = &handler;
	pg::call([] {
		MemoryContext savedContext = CurrentMemoryContext;
		const PQcommMethods *savedMethods = PqCommMethods;
		CommandDest savedDest = whereToSendOutput;
		ProtocolVersion savedProtocol = FrontendProtocol;
		PqCommMethods = &captureMethods;
		whereToSendOutput = DestRemote;
		FrontendProtocol = PG_PROTOCOL_LATEST;
		PG_TRY();
		{
			ProcessNotifyInterrupt(false);
		}
		PG_FINALLY();
		{
			PqCommMethods = savedMethods;
			whereToSendOutput = savedDest;
			FrontendProtocol = savedProtocol;
			MemoryContextSwitchTo(savedContext);
		}
		PG_END_TRY();
	});
	currentHandler = nullptr;
}

} // namespace cachepusher::listener
