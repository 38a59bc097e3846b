#include "document_fetcher.hpp"

#include "spi.hpp"
#include "transaction.hpp"

namespace cachepusher {
namespace {

void collectDocuments(std::vector<Document> &documents)
{
	uint64 rows = SPI_processed;
	for (uint64 row = 0; row < rows; row++)
		documents.push_back(Document{spi::valueOr(row, 1, ""), spi::value(row, 2)});
}

} // namespace

void fetchDocuments(Source &source, const std::vector<std::string> &keys, std::vector<Document> &documents,
					std::vector<FailedKey> &failed)
{
	pg::asRole(source.def.owner, [&] {
		if (source.documentsPlan == nullptr)
			source.documentsPlan = spi::prepareWithKeys(source.def.documentsSql);

		std::string error;
		size_t before = documents.size();
		bool batchWorked = pg::trySubtransaction(
			[&] {
				pg::withStatementTimeout([&] { spi::executeWithKeys(source.documentsPlan, keys); });
				collectDocuments(documents);
			},
			&error);
		if (batchWorked)
			return;

		/* Somewhere in the batch is a bad key: find it by trying each key alone. */
		documents.resize(before);
		std::string castSql = "SELECT $1::" + source.def.keyType;
		std::vector<std::string> one(1);
		for (const std::string &key : keys) {
			one[0] = key;
			bool worked = pg::trySubtransaction(
				[&] {
					pg::withStatementTimeout([&] { spi::executeWithKeys(source.documentsPlan, one); });
					collectDocuments(documents);
				},
				&error);
			if (worked)
				continue;
			/* A key that does not even cast to the argument type names no document: delete it. */
			std::string castError;
			bool castable = pg::trySubtransaction([&] { spi::execute(castSql.c_str(), {key}); }, &castError);
			failed.push_back(FailedKey{key, error, castable});
			if (!castable)
				documents.push_back(Document{key, std::nullopt});
		}
	});
}

void forgetDocumentsPlan(Source &source)
{
	spi::freePlan(source.documentsPlan);
	source.documentsPlan = nullptr;
}

} // namespace cachepusher
