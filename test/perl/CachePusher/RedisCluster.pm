# A Redis Cluster of real redis-servers for one test: masters with replicas, each node a
# CachePusher::Redis on free ports (its cluster bus port too), joined by `redis-cli --cluster create`.
# It reads like one Redis to the tests' checks (port: a seed node; all_under: every master), and
# can reshard slots and fail a master over.
package CachePusher::RedisCluster;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep time);
use CachePusher::Redis;

sub new
{
	my ($class, %opts) = @_;
	my $masters = $opts{masters} // 3;
	my $replicas = $opts{replicas} // 1;
	my $self = bless { nodes => [] }, $class;
	for (1 .. $masters * (1 + $replicas))
	{
		my $bus = PostgreSQL::Test::Cluster::get_free_port();
		push @{ $self->{nodes} }, CachePusher::Redis->new(tls => $opts{tls}, args => [
			($opts{tls} ? ('--tls-cluster', 'yes') : ()),
			'--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
			# A master that stops answering is failed over after a second, not fifteen.
			'--cluster-node-timeout', $opts{node_timeout} // 1000,
			'--cluster-port', $bus ]);
	}
	system_or_bail(CachePusher::Redis::cli_program(), '--cluster', 'create',
		(map { '127.0.0.1:' . $_->port } @{ $self->{nodes} }),
		'--cluster-replicas', $replicas, '--cluster-yes');
	$self->wait_until_ok or die 'the Redis Cluster did not become ready';
	return $self;
}

sub nodes { return @{ $_[0]->{nodes} }; }

# The seed node the worker is given: the first node (a master at the start).
sub port { return $_[0]->{nodes}[0]->port; }
sub worker_port { return $_[0]->{nodes}[0]->worker_port; }

sub alive { my ($node) = @_; return defined $node->{pid}; }

# A node's view of the cluster: { port => { id, master (bool), failed (bool), slots } }.
sub view_of
{
	my ($node) = @_;
	my $text = eval { $node->command('CLUSTER', 'NODES') } // return undef;
	my %nodes;
	for my $line (split /\n/, $text)
	{
		my ($id, $address, $flags, undef, undef, undef, undef, undef, @slots) = split / /, $line;
		my ($port) = $address =~ /:(\d+)@/;
		$nodes{$port} = { id => $id, master => $flags =~ /master/ ? 1 : 0,
			failed => $flags =~ /fail/ ? 1 : 0, slots => [@slots] };
	}
	return \%nodes;
}

# The first live node's view of the cluster.
sub topology
{
	my ($self) = @_;
	for my $node (grep { alive($_) } $self->nodes)
	{
		my $view = view_of($node) // next;
		return $view;
	}
	die 'no node of the Redis Cluster answers';
}

# The masters serving slots, as CachePusher::Redis objects.
sub masters
{
	my ($self) = @_;
	my $topology = $self->topology;
	return grep {
		my $n = $topology->{ $_->port };
		alive($_) && $n && $n->{master} && !$n->{failed} && @{ $n->{slots} }
	} $self->nodes;
}

sub node_id { my ($self, $node) = @_; return $self->topology->{ $node->port }{id}; }

# Every live node says the cluster is ok and agrees on who serves the slots.
sub wait_until_ok
{
	my ($self, $seconds) = @_;
	my $deadline = time + ($seconds // 60);
	while (time < $deadline)
	{
		my ($ok, %maps, $agreed) = (1);
		for my $node (grep { alive($_) } $self->nodes)
		{
			my $info = eval { $node->command('CLUSTER', 'INFO') } // '';
			$ok = 0 unless $info =~ /cluster_state:ok/;
			# Who serves which slots, as this node sees it (slots being migrated left out). A node
			# learns a reshard's last slot by gossip: a master killed before its replica has
			# learned it takes that slot out of the cluster (Redis' own behaviour, not ours).
			my $view = view_of($node);
			$agreed //= $view;
			$maps{ $node->port } = !$view ? '' : join(' ', map {
				my $n = $view->{$_};
				$n->{master} && !$n->{failed} ? ("$_:" . join(',', grep { !/^\[/ } @{ $n->{slots} })) : ()
			} sort keys %$view);
		}
		my %distinct = map { $_ => 1 } values %maps;
		if ($ok && $agreed && keys %distinct == 1)
		{
			# Every slot served by a live master, counted in the view all nodes agree on.
			my %live = map { $_->port => 1 } grep { alive($_) } $self->nodes;
			my $total = 0;
			for my $port (grep { $live{$_} && $agreed->{$_}{master} && !$agreed->{$_}{failed} } keys %$agreed)
			{
				for my $range (@{ $agreed->{$port}{slots} })
				{
					next if $range =~ /^\[/;    # a slot being migrated
					my ($from, $to) = split /-/, $range;
					$total += ($to // $from) - $from + 1;
				}
			}
			return 1 if $total == 16384;
		}
		usleep(50_000);
	}
	return 0;
}

# What each node says of the cluster, and the end of its log: for the diagnostics of a test that
# waited in vain for the cluster (its own state is Redis', not ours, and only its logs tell why).
sub describe
{
	my ($self) = @_;
	my $text = '';
	for my $node ($self->nodes)
	{
		$text .= "--- node " . $node->port . (alive($node) ? '' : ' (stopped)') . "\n";
		if (alive($node))
		{
			my $info = eval { $node->command('CLUSTER', 'INFO') } // "CLUSTER INFO failed: $@";
			$text .= join("\n", grep { /cluster_state|cluster_slots_(ok|pfail|fail)|cluster_known_nodes|cluster_size|current_epoch|my_epoch/ } split /\r?\n/, $info) . "\n";
			$text .= eval { $node->command('CLUSTER', 'NODES') } // "CLUSTER NODES failed: $@\n";
		}
		my @log = -f $node->logfile ? split(/\n/, PostgreSQL::Test::Utils::slurp_file($node->logfile)) : ();
		$text .= join("\n", @log > 25 ? @log[-25 .. -1] : @log) . "\n";
	}
	return $text;
}

# The master that holds key now (asked with CLUSTER KEYSLOT and the slot ranges).
sub master_of
{
	my ($self, $key) = @_;
	my ($live) = grep { alive($_) } $self->nodes;
	my $slot = $live->command('CLUSTER', 'KEYSLOT', $key);
	my $topology = $self->topology;
	for my $m ($self->masters)
	{
		for my $range (@{ $topology->{ $m->port }{slots} })
		{
			next if $range =~ /^\[/;
			my ($from, $to) = split /-/, $range;
			return $m if $slot >= $from && $slot <= ($to // $from);
		}
	}
	return undef;
}

# Every key under "prefix:" on every master, with its value.
sub all_under
{
	my ($self, $prefix) = @_;
	my %all;
	for my $m ($self->masters)
	{
		my $found = eval { $m->all_under($prefix) } // {};
		%all = (%all, %$found);
	}
	return \%all;
}

sub all_hashes_under
{
	my ($self, $prefix) = @_;
	my %all;
	for my $m ($self->masters)
	{
		my $found = eval { $m->all_hashes_under($prefix) } // {};
		%all = (%all, %$found);
	}
	return \%all;
}

# How often the live nodes answered with an error (MOVED, ASK, CLUSTERDOWN), from INFO errorstats.
sub errors_answered
{
	my ($self, $code) = @_;
	my $count = 0;
	for my $node (grep { alive($_) } $self->nodes)
	{
		my $info = eval { $node->command('INFO', 'errorstats') } // '';
		$count += $1 if $info =~ /errorstat_$code:count=(\d+)/;
	}
	return $count;
}

# Stops every node (also done at the end of the test by CachePusher::Redis).
sub stop { $_->stop for grep { alive($_) } $_[0]->nodes; return; }

1;
