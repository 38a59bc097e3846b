#include "cluster_slot.hpp"

#include <cstdint>
#include <cstdlib>

#include "cpp_only.hpp" /* last: this module is PostgreSQL-free */

namespace cachepusher::cluster_slot {
namespace {

uint16_t crc16(std::string_view data)
{
	uint16_t crc = 0;
	for (unsigned char byte : data) {
		crc ^= static_cast<uint16_t>(byte) << 8;
		for (int bit = 0; bit < 8; bit++)
			crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021) : static_cast<uint16_t>(crc << 1);
	}
	return crc;
}

} // namespace

int keySlot(std::string_view key)
{
	size_t open = key.find('{');
	if (open != std::string_view::npos) {
		size_t close = key.find('}', open + 1);
		if (close != std::string_view::npos && close > open + 1)
			key = key.substr(open + 1, close - open - 1);
	}
	return crc16(key) % slotCount;
}

Redirect parseRedirect(std::string_view error)
{
	Redirect r;
	Redirect::Kind kind;
	if (error.substr(0, 6) == "MOVED ")
		kind = Redirect::Kind::Moved, error.remove_prefix(6);
	else if (error.substr(0, 4) == "ASK ")
		kind = Redirect::Kind::Ask, error.remove_prefix(4);
	else
		return r;
	/* "<slot> <host>:<port>"; the host may be an IPv6 address, so the port follows the last ':'. */
	size_t space = error.find(' ');
	size_t colon = error.rfind(':');
	if (space == std::string_view::npos || colon == std::string_view::npos || colon < space)
		return r;
	std::string slot(error.substr(0, space));
	std::string port(error.substr(colon + 1));
	r.slot = std::atoi(slot.c_str());
	r.port = std::atoi(port.c_str());
	r.host = std::string(error.substr(space + 1, colon - space - 1));
	if (r.slot < 0 || r.slot >= slotCount || r.port <= 0)
		return Redirect{};
	r.kind = kind;
	return r;
}

} // namespace cachepusher::cluster_slot
