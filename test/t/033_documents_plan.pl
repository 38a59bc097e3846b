# The batches of a few keys that commits bring run one plan of the documents query (or of the
# document function's call), not a plan made anew for each batch. Left to PostgreSQL's plan cache,
# which judges by the cost of the plans of its first five runs, that depended on what came first:
# after a warmup's large batches the generic plan, but without one (warmup_on_start = off, a worker
# restarted) a plan made for one key looked cheaper than the generic one and every batch was planned
# again. Counted by pg_stat_statements in the worker's database.
use strict;
use warnings;
use File::Basename qw(dirname);
use PostgreSQL::Test::Utils;
use Test::More;
use CachePusher::Test;

my $documents_query = slurp_file(dirname(__FILE__) . '/../../examples/customer_documents.sql');
my $docs = 'SELECT id_customer, customer_get(id_customer) FROM customer';
my $changes = 30;

my $redis = start_redis();
my $node = new_node('documents_plan', $redis, conf => <<'CONF');
shared_preload_libraries = 'cachepusher,pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.track_planning = on
CONF
load_seed_schema($node, customers => 200, addresses => 400);
$node->safe_psql('postgres', qq{
	CREATE EXTENSION pg_stat_statements;
	SELECT cachepusher.add_source('customer', NULL, 'SELECT id_customer FROM customer',
	                              documents_query => \$q\$$documents_query\$q\$,
	                              channels => ARRAY['customer_updated', 'customer_deleted']);
	SELECT cachepusher.add_source('customer_fn', 'customer_get(int)', 'SELECT id_customer FROM customer',
	                              key_prefix => 'fn', channels => ARRAY['customer_updated', 'customer_deleted']);
});
cache_matches($node, $redis, 'customer', $docs, 'warmup of the set-based source');
cache_matches($node, $redis, 'fn', $docs, 'warmup of the function source');

# A worker that starts without a warmup: its first batches are the changes below, a key each.
$node->append_conf('postgresql.conf', "cachepusher.warmup_on_start = off\n");
$node->stop('fast');
$node->start;
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM cachepusher.status WHERE state = 'streaming'}),
	'the worker serves both sources again, without a warmup');
$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
for my $i (1 .. $changes) {
	$node->safe_psql('postgres', "UPDATE customer SET name = 'planned once $i' WHERE id_customer = $i");
	$node->safe_psql('postgres', 'SELECT cachepusher.wait_for_sync()');
}
cache_matches($node, $redis, 'customer', $docs, 'the changes reached the set-based source');
cache_matches($node, $redis, 'fn', $docs, 'and the function source');

# Runs and plans of each source's statement since the reset (PostgreSQL 18 keeps a statement's text
# without the comment before it).
my %pattern = (
	'the documents query' => '%SELECT c.id_customer,%coalesce(a.addresses, %',
	'the function\'s call' => 'SELECT u.k, %customer_get(%');
for my $what (sort keys %pattern)
{
	my ($calls, $plans) = split /\|/, $node->safe_psql('postgres', qq{
		SELECT coalesce(sum(calls), 0), coalesce(sum(plans), 0) FROM pg_stat_statements
		WHERE query LIKE '$pattern{$what}'});
	cmp_ok($calls, '>=', $changes, "$what ran for each change ($calls runs)");
	cmp_ok($plans, '<=', 2, "$what was planned once or twice, not per batch ($plans plans)");
}

done_testing();
