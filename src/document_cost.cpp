#include "document_cost.hpp"

#include "cpp_only.hpp" /* last: this module is PostgreSQL-free */

namespace cachepusher {

void DocumentCost::add(int64_t documents, int64_t microseconds)
{
	if (documents <= 0)
		return;
	/* A query that built a whole window's documents is judged on its own, not with what came before. */
	if (documents >= windowDocuments) {
		windowDocuments_ = 0;
		windowMicroseconds_ = 0;
	}
	windowDocuments_ += documents;
	windowMicroseconds_ += microseconds > 0 ? microseconds : 0;
	if (windowDocuments_ < windowDocuments)
		return;
	lastMs_ = static_cast<double>(windowMicroseconds_) / 1000.0 / static_cast<double>(windowDocuments_);
	windowDocuments_ = 0;
	windowMicroseconds_ = 0;
}

double DocumentCost::msPerDocument() const
{
	if (lastMs_ >= 0)
		return lastMs_;
	if (windowDocuments_ == 0)
		return 0;
	return static_cast<double>(windowMicroseconds_) / 1000.0 / static_cast<double>(windowDocuments_);
}

bool DocumentCost::hintDue(Timestamp now)
{
	return slow() && hint_.due(now);
}

} // namespace cachepusher
